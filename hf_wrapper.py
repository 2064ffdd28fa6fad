"""
nanoGPT as Hugging Face models, for the Trainer: a sequence classifier and a causal LM that generates.

    import hf_wrapper
    from ipa_finetune.checkpoint import read_checkpoint      # ckpt.pt -> (GPTConfig, weights), checked
    model = hf_wrapper.NanoGPTForSequenceClassification.from_gpt_weights(
        *read_checkpoint("checkpoints/ipa/ckpt.pt"), num_labels=3, seed=1337)
    out = model(input_ids, attention_mask=attention_mask, labels=labels)  # out.loss, out.logits (B, 3)
    model.save_pretrained("best_model")  # config.json + model.safetensors (no lm_head)
    transformers.AutoModelForSequenceClassification.from_pretrained("best_model")

    lm = hf_wrapper.NanoGPTForCausalLM.from_gpt_weights(*read_checkpoint(path), eos_token_id=0)
    out = lm(input_ids, attention_mask=attention_mask, labels=labels)  # loss on labels != -100 only
    lm.complete([[5, 17, 0], [9, 0]], max_new_tokens=32)            # prompts: source ids + separator
                                                                    # -> [[ids...], [ids...]] up to eos
    lm.save_pretrained("best_model")  # the tied lm_head is stored once (as the embeddings)
    transformers.AutoModelForCausalLM.from_pretrained("best_model")

The classifier reads the final hidden state of each row's last real token (right padding, found from
attention_mask). Causal attention means padding never changes a real token's state, so a padded batch
gives the same logits as each row alone, and no pad token is needed in the vocabulary. lm_head is never
built; the blocks skip the padding (packed tokens) and the last block works on the pooled positions only
(see GPT.pooled_hidden_states).

The causal LM is the whole nanoGPT, lm_head tied to the token embeddings as pretrained. Training:
right-padded rows, labels aligned with input_ids (position t is trained to predict labels[t + 1], as
transformers' causal LMs shift them) and -100 where nothing is to be learnt (source, separator,
padding); the vocabulary projection runs on the labelled positions only, so the output then carries the
loss and no logits. Generation: transformers' generate() (greedy, beam search, ...) with a DynamicCache
that the blocks fill (model.py's cache protocol), left-padded prompts with position ids counting real
tokens only, so a row gets the tokens it would get alone; complete() does the batching.

Importing this module registers model type "nanogpt" with AutoConfig, AutoModelForSequenceClassification
and AutoModelForCausalLM; it has no other side effect. It imports model.py, torch and transformers
only: bad arguments raise plain ValueErrors, which ipa_finetune turns into user errors.
"""
import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from transformers import (AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, DynamicCache,
                          GenerationConfig, GenerationMixin, PreTrainedConfig, PreTrainedModel)
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutputWithPast, SequenceClassifierOutput

from model import GPT, GPTConfig, LayerNorm

IGNORE_INDEX = -100  # transformers' label for "no loss here"


@strict
class NanoGPTConfig(PreTrainedConfig, GPTConfig):
    """GPTConfig's fields (inherited: model.py is their one definition), plus PreTrainedConfig's
    classification fields (num_labels, id2label, ...) and the token ids generation needs. Being a
    GPTConfig, it builds a GPT directly."""

    model_type = "nanogpt"
    attribute_map = {
        "hidden_size": "n_embd",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "max_position_embeddings": "block_size",
    }

    initializer_range: float = 0.02  # std of nanoGPT's normal init, and of a fresh classification head
    eos_token_id: int | None = None  # the causal LM: where generation stops
    pad_token_id: int | None = None  # the causal LM: fills batches (always masked)
    bos_token_id: int | None = None  # unused: prompts are never empty
    tie_word_embeddings: bool = True  # nanoGPT's lm_head is the token embeddings


def nanogpt_config(gpt_config, dropout=None, **fields):
    """NanoGPTConfig of a model.GPTConfig (dropout: None keeps the config's) plus PreTrainedConfig
    fields."""
    if dropout is not None and not 0 <= dropout < 1:
        raise ValueError(f"dropout={dropout}; expected a number in [0, 1)")
    gpt_fields = {f.name: getattr(gpt_config, f.name) for f in dataclasses.fields(GPTConfig)}
    return NanoGPTConfig(**dict(gpt_fields, dropout=float(gpt_config.dropout if dropout is None else dropout)),
                         **fields)


def last_token_index(input_ids, attention_mask=None):
    """Position of each row's last real token, (B,) long: the last position where attention_mask is 1
    (right padding); the last position when there is no mask; 0 for a row that is all padding."""
    B, T = input_ids.shape
    if attention_mask is None:
        return torch.full((B,), T - 1, dtype=torch.long, device=input_ids.device)
    positions = torch.arange(T, device=input_ids.device)
    return torch.where(attention_mask.to(input_ids.device).bool(), positions, 0).amax(dim=1)


class NanoGPTPreTrainedModel(PreTrainedModel):
    """What the two models share: the config, nanoGPT's init, loading a checkpoint's weights."""
    config_class = NanoGPTConfig
    base_model_prefix = "gpt"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    _supports_sdpa = True  # attention always runs through F.scaled_dot_product_attention
    supports_gradient_checkpointing = False

    def _mark_residual_projections(self):
        for name, module in self.gpt.named_modules():  # marked for _init_weights (see there)
            if name.endswith(".c_proj"):
                module.is_residual_projection = True

    def _init_weights(self, module):
        """nanoGPT's init (normal 0.02; GPT-2's 1/sqrt(2 n_layer) for the residual projections c_proj),
        via transformers' init functions so that from_pretrained never overwrites loaded weights. The
        c_proj Linears carry a mark: transformers never calls this on their parents in custom code."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if getattr(module, "is_residual_projection", False):
                std = std / math.sqrt(2 * self.config.n_layer)
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, LayerNorm):
            init.ones_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)

    def get_input_embeddings(self):
        return self.gpt.transformer.wte

    def set_input_embeddings(self, value):
        self.gpt.transformer.wte = value

    @classmethod
    def _with_weights(cls, config, weights):
        """cls(config) holding `weights` (the state dict of GPT(config, lm_head=False)) in its body, on
        the CPU; weights=None: nanoGPT's random init. Raises ValueError for weights that do not fit."""
        if weights is None:
            return cls(config)  # nanoGPT's init throughout (_init_weights)
        with torch.device("meta"):  # no random init of weights that are loaded right after
            model = cls(config)
        model.to_empty(device="cpu")  # (gives a tied lm_head its own tensor: tied again below)
        if model.gpt.lm_head is not None:
            model.gpt.transformer.wte.weight = model.gpt.lm_head.weight
        try:
            result = model.gpt.load_state_dict(weights, strict=False)  # shapes are still checked
        except RuntimeError as e:
            raise ValueError(" ".join(str(e).split())[:300]) from None
        missing = [k for k in result.missing_keys if k != "lm_head.weight"]  # lm_head is wte's tensor
        for problem, keys in (("lack", missing), ("have unexpected", result.unexpected_keys)):
            if keys:
                more = f" and {len(keys) - 1} more" if len(keys) > 1 else ""
                raise ValueError(f"weights {problem} {keys[0]}{more}; expected the state dict of "
                                 f"GPT(config, lm_head=False) for {config.n_layer} layers")
        return model

    def _check_forward_kwargs(self, kwargs):
        """Pop the transformers options this model accepts and ignores; return return_dict. Others raise."""
        return_dict = kwargs.pop("return_dict", None)
        for key in ("output_attentions", "output_hidden_states"):
            if kwargs.pop(key, None):
                raise ValueError(f"{type(self).__name__} does not return {key[len('output_'):]}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}.forward() got unexpected arguments: "
                            f"{', '.join(sorted(kwargs))}")
        return return_dict


class NanoGPTForSequenceClassification(NanoGPTPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.gpt = GPT(config, lm_head=False)
        # as GPT2ForSequenceClassification: one bias-free linear map of the pooled hidden state
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        self._mark_residual_projections()
        self.post_init()

    @classmethod
    def from_gpt_weights(cls, gpt_config, weights, num_labels, *, seed=None, dropout=None, id2label=None,
                         label2id=None):
        """A classifier with the body of a nanoGPT (its GPTConfig and the state dict of
        GPT(gpt_config, lm_head=False), e.g. from ipa_finetune.checkpoint.read_checkpoint) and a fresh
        head of num_labels outputs: normal(0, 0.02), drawn from `seed` when given (the same seed gives
        the same head), else from torch's global generator. weights=None keeps nanoGPT's random init
        (a model without pretraining, for a control). dropout: None keeps the config's. Eval mode, on
        the CPU. Raises ValueError for bad arguments or weights."""
        if num_labels < 2:
            raise ValueError(f"num_labels={num_labels}; a classifier needs at least 2 labels")
        if id2label is not None and len(id2label) != num_labels:
            raise ValueError(f"id2label has {len(id2label)} labels but num_labels={num_labels}")
        if id2label is not None:
            id2label = {int(i): str(name) for i, name in id2label.items()}
            label2id = label2id or {name: i for i, name in id2label.items()}
        config = nanogpt_config(gpt_config, dropout, num_labels=num_labels, id2label=id2label,
                                label2id=label2id, problem_type="single_label_classification")
        model = cls._with_weights(config, weights)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with torch.no_grad():
            model.score.weight.normal_(0.0, config.initializer_range, generator=generator)
        return model.eval()

    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs):
        """input_ids (B, T), attention_mask (B, T) 1 for real tokens (right padding), labels (B,) ->
        SequenceClassifierOutput: logits (B, num_labels) float32, loss (mean cross-entropy; with the
        Trainer's num_items_in_batch, sum / num_items_in_batch) when labels are given."""
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        kwargs.pop("use_cache", None)  # nothing is cached
        return_dict = self._check_forward_kwargs(kwargs)
        if input_ids.size(1) > self.config.block_size:
            raise ValueError(
                f"input_ids has {input_ids.size(1)} tokens per row but the model's block_size is "
                f"{self.config.block_size}; truncate inputs to max_length <= {self.config.block_size}")
        # the blocks skip the padding after each row's last real token (see GPT.pooled_hidden_states)
        pooled = self.gpt.pooled_hidden_states(input_ids, last_token_index(input_ids, attention_mask))
        logits = self.score(pooled).float()  # float32: a stable loss under bf16 autocast, numpy-able metrics
        loss = None
        if labels is not None:
            labels = labels.to(logits.device).view(-1)
            if num_items_in_batch is None:
                loss = F.cross_entropy(logits, labels)
            else:  # gradient accumulation: divided by the examples of all accumulated batches
                loss = F.cross_entropy(logits, labels, reduction="sum") / num_items_in_batch
        if return_dict is False:
            return (logits,) if loss is None else (loss, logits)
        return SequenceClassifierOutput(loss=loss, logits=logits)


class NanoGPTForCausalLM(NanoGPTPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"gpt.lm_head.weight": "gpt.transformer.wte.weight"}  # nanoGPT's weight tying

    def __init__(self, config):
        super().__init__(config)
        self.gpt = GPT(config)  # with lm_head, tied to wte
        self._mark_residual_projections()
        self.post_init()

    def get_output_embeddings(self):
        return self.gpt.lm_head

    def set_output_embeddings(self, value):
        self.gpt.lm_head = value

    @classmethod
    def from_gpt_weights(cls, gpt_config, weights, *, eos_token_id, pad_token_id=None, dropout=None):
        """A causal LM with the whole of a nanoGPT (its GPTConfig and the state dict of
        GPT(gpt_config, lm_head=False), e.g. from ipa_finetune.checkpoint.read_checkpoint), lm_head tied
        to the token embeddings as pretrained. eos_token_id: the token generation ends with;
        pad_token_id: fills batches, always masked (default: eos_token_id). weights=None keeps nanoGPT's
        random init (a model without pretraining, for a control). dropout: None keeps the config's.
        Eval mode, on the CPU. Raises ValueError for bad arguments or weights."""
        pad_token_id = eos_token_id if pad_token_id is None else pad_token_id
        for name, value in (("eos_token_id", eos_token_id), ("pad_token_id", pad_token_id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < gpt_config.vocab_size:
                raise ValueError(f"{name}={value!r}; expected a token id in [0, {gpt_config.vocab_size}) "
                                 f"(the checkpoint's vocab_size)")
        config = nanogpt_config(gpt_config, dropout, eos_token_id=eos_token_id, pad_token_id=pad_token_id)
        model = cls._with_weights(config, weights)
        model.generation_config = GenerationConfig.from_model_config(config)
        return model.eval()

    def forward(self, input_ids, attention_mask=None, position_ids=None, labels=None, cache=None,
                use_cache=None, logits_to_keep=0, **kwargs):
        """input_ids (B, T) -> CausalLMOutputWithPast. Training: labels (B, T) aligned with input_ids,
        -100 where no loss is wanted; loss = cross-entropy of the labelled tokens (mean, or sum /
        num_items_in_batch under the Trainer's gradient accumulation), logits None. Otherwise: logits
        (B, T, vocab) float32, of the last logits_to_keep positions when > 0. Decoding (transformers'
        generate): cache (a transformers Cache; a DynamicCache when use_cache and none given) holds the
        earlier tokens, attention_mask (B, P + T) and position_ids (B, T) describe left padding."""
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        return_dict = self._check_forward_kwargs(kwargs)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        hidden = self.gpt.hidden_states(input_ids, attention_mask, position_ids, cache)  # (B, T, C)
        if labels is not None:
            loss, logits = self.target_loss(hidden, labels, num_items_in_batch), None
        else:
            loss = None
            kept = hidden[:, -logits_to_keep:] if logits_to_keep else hidden  # (B, T or kept, C)
            logits = self.gpt.lm_head(kept).float()  # float32: stable scores under bf16 autocast
        if return_dict is False:
            return tuple(x for x in (loss, logits, cache) if x is not None)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=cache)

    def target_loss(self, hidden, labels, num_items_in_batch=None):
        """Cross-entropy of the labelled tokens: hidden (B, T, C), labels (B, T), position t predicting
        labels[t + 1]; the vocabulary projection runs on those positions only (N of them), which is
        what a 50k vocabulary makes worth it. Divided by num_items_in_batch when given, else by N."""
        targets = labels.to(hidden.device)[:, 1:]  # (B, T - 1): what each position predicts
        keep = targets != IGNORE_INDEX
        picked = targets[keep]  # (N,)
        if ((picked < 0) | (picked >= self.config.vocab_size)).any():
            raise ValueError(f"labels hold {picked[(picked < 0) | (picked >= self.config.vocab_size)][0].item()}; "
                             f"expected {IGNORE_INDEX} (no loss) or a token id in [0, {self.config.vocab_size})")
        logits = self.gpt.lm_head(hidden[:, :-1][keep]).float()  # (N, vocab)
        loss = F.cross_entropy(logits, picked, reduction="sum")
        return loss / (num_items_in_batch if num_items_in_batch is not None else max(len(picked), 1))

    @torch.no_grad()
    def complete(self, prompts, max_new_tokens, *, num_beams=1, batch_size=32, use_cache=True):
        """Generate a continuation of each prompt (a list of token ids) until config.eos_token_id or
        max_new_tokens; returns each continuation's ids without the end token, in the prompts' order.
        Greedy (num_beams=1) or beam search, through transformers' generate(). Batched: prompts sorted
        by length, batch_size at a time, left-padded (each row gets the tokens it would get alone).
        Every prompt plus max_new_tokens must fit in block_size. Runs in eval mode (no dropout) and
        restores the mode. use_cache=False recomputes the whole prefix each step (for checks and the
        benchmark)."""
        prompts = self._checked_prompts(prompts, max_new_tokens, num_beams, batch_size)
        gen = GenerationConfig(max_new_tokens=max_new_tokens, num_beams=num_beams, do_sample=False,
                               eos_token_id=self.config.eos_token_id, pad_token_id=self.config.pad_token_id,
                               use_cache=use_cache)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out = [None] * len(prompts)
        was_training = self.training
        self.eval()  # no dropout, whenever it is called (e.g. an evaluation in the middle of training)
        try:
            for start in range(0, len(order), batch_size):
                rows = order[start:start + batch_size]
                input_ids, attention_mask = self.left_pad([prompts[i] for i in rows])
                generated = self.generate(input_ids, attention_mask=attention_mask, generation_config=gen)
                for i, ids in zip(rows, generated[:, input_ids.size(1):].tolist()):
                    end = ids.index(self.config.eos_token_id) if self.config.eos_token_id in ids else len(ids)
                    out[i] = ids[:end]
        finally:
            self.train(was_training)
        return out

    def left_pad(self, prompts):
        """Prompts (lists or 1-D tensors of ids) -> input_ids, attention_mask (B, longest) on the
        model's device, rows padded on the left with config.pad_token_id."""
        T = max(len(p) for p in prompts)
        input_ids = torch.full((len(prompts), T), self.config.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), T), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, T - len(ids):] = torch.as_tensor(ids, dtype=torch.long)
            attention_mask[row, T - len(ids):] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def _checked_prompts(self, prompts, max_new_tokens, num_beams, batch_size):
        """complete()'s arguments checked (ValueError); the prompts as 1-D long tensors."""
        for name, value in (("max_new_tokens", max_new_tokens), ("num_beams", num_beams),
                            ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r}; expected an integer >= 1")
        if self.config.eos_token_id is None or self.config.pad_token_id is None:
            raise ValueError("config.eos_token_id and pad_token_id must be set to generate "
                             "(from_gpt_weights sets them)")
        return [self._checked_prompt(i, ids, max_new_tokens) for i, ids in enumerate(prompts)]

    def _checked_prompt(self, i, ids, max_new_tokens):
        vocab, block = self.config.vocab_size, self.config.block_size
        t = torch.as_tensor(ids)
        if t.ndim == 1 and len(t) == 0:
            raise ValueError(f"prompt {i} is empty; expected a non-empty list of token ids")
        if t.ndim != 1 or t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"prompt {i} is not a list of token ids; expected a non-empty list of token ids")
        outside = (t < 0) | (t >= vocab)
        if outside.any():
            raise ValueError(f"prompt {i} holds {t[outside][0].item()}; expected token ids in [0, {vocab})")
        if len(t) + max_new_tokens > block:
            raise ValueError(f"prompt {i} has {len(t)} tokens, and {len(t)} + max_new_tokens {max_new_tokens} > "
                             f"block_size {block}; shorten the prompt or generate fewer tokens")
        return t.long()


AutoConfig.register(NanoGPTConfig.model_type, NanoGPTConfig, exist_ok=True)
AutoModelForSequenceClassification.register(NanoGPTConfig, NanoGPTForSequenceClassification, exist_ok=True)
AutoModelForCausalLM.register(NanoGPTConfig, NanoGPTForCausalLM, exist_ok=True)
