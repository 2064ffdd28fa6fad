"""
nanoGPT as a Hugging Face sequence classifier, for the Trainer.

    import hf_wrapper
    from ipa_finetune.checkpoint import read_checkpoint      # ckpt.pt -> (GPTConfig, weights), checked
    model = hf_wrapper.NanoGPTForSequenceClassification.from_gpt_weights(
        *read_checkpoint("checkpoints/ipa/ckpt.pt"), num_labels=3, seed=1337)
    out = model(input_ids, attention_mask=attention_mask, labels=labels)  # out.loss, out.logits (B, 3)
    model.save_pretrained("best_model")  # config.json + model.safetensors (no lm_head)
    transformers.AutoModelForSequenceClassification.from_pretrained("best_model")

The classifier reads the final hidden state of each row's last real token (right padding, found from
attention_mask). Causal attention means padding never changes a real token's state, so a padded batch
gives the same logits as each row alone, and no pad token is needed in the vocabulary. lm_head is never
built; the blocks skip the padding (packed tokens) and the last block works on the pooled positions only
(see GPT.pooled_hidden_states).

Importing this module registers model type "nanogpt" with AutoConfig and
AutoModelForSequenceClassification; it has no other side effect. It imports model.py, torch and
transformers only: bad arguments raise plain ValueErrors, which ipa_finetune turns into user errors.
"""
import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from model import GPT, GPTConfig, LayerNorm


@strict
class NanoGPTConfig(PreTrainedConfig, GPTConfig):
    """GPTConfig's fields (inherited: model.py is their one definition), plus PreTrainedConfig's
    classification fields (num_labels, id2label, ...). Being a GPTConfig, it builds a GPT directly."""

    model_type = "nanogpt"
    attribute_map = {
        "hidden_size": "n_embd",
        "num_hidden_layers": "n_layer",
        "num_attention_heads": "n_head",
        "max_position_embeddings": "block_size",
    }

    initializer_range: float = 0.02  # std of nanoGPT's normal init, and of a fresh classification head


def last_token_index(input_ids, attention_mask=None):
    """Position of each row's last real token, (B,) long: the last position where attention_mask is 1
    (right padding); the last position when there is no mask; 0 for a row that is all padding."""
    B, T = input_ids.shape
    if attention_mask is None:
        return torch.full((B,), T - 1, dtype=torch.long, device=input_ids.device)
    positions = torch.arange(T, device=input_ids.device)
    return torch.where(attention_mask.to(input_ids.device).bool(), positions, 0).amax(dim=1)


class NanoGPTForSequenceClassification(PreTrainedModel):
    config_class = NanoGPTConfig
    base_model_prefix = "gpt"
    main_input_name = "input_ids"
    _no_split_modules = ["Block"]
    _supports_sdpa = True  # attention always runs through F.scaled_dot_product_attention
    supports_gradient_checkpointing = False

    def __init__(self, config):
        super().__init__(config)
        self.gpt = GPT(config, lm_head=False)
        # as GPT2ForSequenceClassification: one bias-free linear map of the pooled hidden state
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        for name, module in self.gpt.named_modules():  # marked for _init_weights (see there)
            if name.endswith(".c_proj"):
                module.is_residual_projection = True
        self.post_init()

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
        if dropout is not None and not 0 <= dropout < 1:
            raise ValueError(f"dropout={dropout}; expected a number in [0, 1)")
        if id2label is not None:
            id2label = {int(i): str(name) for i, name in id2label.items()}
            label2id = label2id or {name: i for i, name in id2label.items()}
        gpt_fields = {f.name: getattr(gpt_config, f.name) for f in dataclasses.fields(GPTConfig)}
        config = NanoGPTConfig(
            **dict(gpt_fields, dropout=float(gpt_config.dropout if dropout is None else dropout)),
            num_labels=num_labels, id2label=id2label, label2id=label2id,
            problem_type="single_label_classification")
        if weights is None:
            model = cls(config)  # nanoGPT's init throughout (_init_weights)
        else:
            with torch.device("meta"):  # no random init of weights that are loaded right after
                model = cls(config)
            model.to_empty(device="cpu")
            try:
                model.gpt.load_state_dict(weights)  # strict: every name and shape
            except RuntimeError as e:
                raise ValueError(" ".join(str(e).split())[:300]) from None
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        with torch.no_grad():
            model.score.weight.normal_(0.0, config.initializer_range, generator=generator)
        return model.eval()

    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs):
        """input_ids (B, T), attention_mask (B, T) 1 for real tokens (right padding), labels (B,) ->
        SequenceClassifierOutput: logits (B, num_labels) float32, loss (mean cross-entropy; with the
        Trainer's num_items_in_batch, sum / num_items_in_batch) when labels are given."""
        num_items_in_batch = kwargs.pop("num_items_in_batch", None)
        return_dict = kwargs.pop("return_dict", None)
        kwargs.pop("use_cache", None)  # nothing is cached
        for key in ("output_attentions", "output_hidden_states"):
            if kwargs.pop(key, None):
                raise ValueError(f"{type(self).__name__} does not return {key[len('output_'):]}")
        if kwargs:
            raise TypeError(f"{type(self).__name__}.forward() got unexpected arguments: {', '.join(sorted(kwargs))}")
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


AutoConfig.register(NanoGPTConfig.model_type, NanoGPTConfig, exist_ok=True)
AutoModelForSequenceClassification.register(NanoGPTConfig, NanoGPTForSequenceClassification, exist_ok=True)
