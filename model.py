"""
The nanoGPT GPT model, module for module and parameter for parameter as upstream nanoGPT's model.py,
so that the researchers' `ckpt.pt` files load unchanged (see load_checkpoint at the bottom).

    model = load_checkpoint("checkpoints/ipa/ckpt.pt")      # GPT, eval mode, on the CPU
    h = model.hidden_states(idx)                            # (B, T, C) after ln_f
    h = model.pooled_hidden_states(idx, pool_idx)           # (B, C), one position per row, cheaper

Additions to upstream: GPT(config, lm_head=False) for a classifier body, hidden_states /
pooled_hidden_states, and read_checkpoint / load_checkpoint / save_checkpoint for train.py's format.

References:
1) the official GPT-2 TensorFlow implementation released by OpenAI
2) huggingface/transformers PyTorch implementation
3) Karpathy's nanoGPT
"""
import math
import os
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn as nn
from torch.nn import functional as F

from ipa_finetune.errors import CheckpointError


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias. PyTorch's LayerNorm doesn't support simply bias=False."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # key, query, value projections for all heads, but in a batch
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        # regularization
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        # Always the fused kernel (flash / memory-efficient / math, whichever torch picks): the
        # `attn.bias` mask buffer of old non-flash checkpoints is therefore never needed.

    def forward(self, x):
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)
        # calculate query, key, values for all heads in batch and move head forward to be the batch dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        # causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, T) -> (B, nh, T, T)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        # output projection
        y = self.resid_dropout(self.c_proj(y))
        return y

    def forward_pooled(self, x, pool_idx):
        """Attention output at one query position per row: x (B, T, C), pool_idx (B,) -> (B, C).

        Keys and values come from every position; the query of row b is position pool_idx[b] and attends
        to keys 0..pool_idx[b], exactly as in forward(). Only the query projection and the output
        projection shrink to one position per row, which is what makes a classifier's last block cheap.
        """
        B, T, C = x.size()
        hs = C // self.n_head
        w_q, w_kv = self.c_attn.weight.split([C, 2 * C], dim=0)  # (C, C), (2C, C): rows are q | k | v
        b_q, b_kv = self.c_attn.bias.split([C, 2 * C]) if self.c_attn.bias is not None else (None, None)
        k, v = F.linear(x, w_kv, b_kv).split(C, dim=2)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        x_q = x[torch.arange(B, device=x.device), pool_idx]  # (B, C)
        q = F.linear(x_q, w_q, b_q).view(B, self.n_head, 1, hs)  # (B, nh, 1, hs)
        # causal mask of the pooled row: keys at positions <= pool_idx (True = attend)
        mask = torch.arange(T, device=x.device) <= pool_idx[:, None]  # (B, T)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :], dropout_p=self.dropout if self.training else 0)
        y = y.reshape(B, C)  # (B, nh, 1, hs) -> (B, C), heads side by side as in forward()
        return self.resid_dropout(self.c_proj(y))


    def forward_packed(self, x, packing):
        """forward() on packed tokens x (N, C) laid out by `packing` (see Packing) -> (N, C). The
        projections run on the N real tokens; attention runs per group of rows, each padded with zeros
        to its longest row, which no real token reads (causal attention looks back only)."""
        N, C = x.size()
        qkv = self.c_attn(x)  # (N, 3C)
        ys = []
        for g in packing.groups:
            qkv_g = packing.pad(qkv[g.start:g.end], g)  # (rows, T, 3C)
            q, k, v = (t.reshape(g.rows, g.length, self.n_head, C // self.n_head).transpose(1, 2)
                       for t in qkv_g.split(C, dim=2))  # (rows, nh, T, hs)
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
            ys.append(packing.unpad(y.transpose(1, 2).reshape(g.rows * g.length, C), g))  # (tokens of g, C)
        y = torch.cat(ys) if len(ys) > 1 else ys[0]  # (N, C)
        return self.resid_dropout(self.c_proj(y))

    def forward_pooled_packed(self, x, packing):
        """forward_pooled() on packed tokens x (N, C): the attention output at each row's last token,
        (B, C), rows in packing order."""
        N, C = x.size()
        hs = C // self.n_head
        w_q, w_kv = self.c_attn.weight.split([C, 2 * C], dim=0)  # (C, C), (2C, C): rows are q | k | v
        b_q, b_kv = self.c_attn.bias.split([C, 2 * C]) if self.c_attn.bias is not None else (None, None)
        kv = F.linear(x, w_kv, b_kv)  # (N, 2C)
        q = F.linear(x[packing.last_rows], w_q, b_q)  # (B, C)
        ys = []
        for g in packing.groups:
            k, v = (t.reshape(g.rows, g.length, self.n_head, hs).transpose(1, 2)
                    for t in packing.pad(kv[g.start:g.end], g).split(C, dim=2))  # (rows, nh, T, hs)
            q_g = q[g.row0:g.row0 + g.rows].view(g.rows, self.n_head, 1, hs)
            # keys of the row's own tokens (True = attend); None when the group has no padding
            mask = None if g.index is None else (
                torch.arange(g.length, device=x.device) < packing.lengths[g.row0:g.row0 + g.rows, None])
            y = F.scaled_dot_product_attention(
                q_g, k, v, attn_mask=None if mask is None else mask[:, None, None, :],
                dropout_p=self.dropout if self.training else 0)
            ys.append(y.reshape(g.rows, C))  # (rows, nh, 1, hs) -> (rows, C)
        y = torch.cat(ys) if len(ys) > 1 else ys[0]  # (B, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()  # exact (erf) GELU, as upstream nanoGPT
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x

    def forward_pooled(self, x, pool_idx):
        """The block's output at position pool_idx[b] of each row only: x (B, T, C) -> (B, C)."""
        rows = torch.arange(x.size(0), device=x.device)
        x = x[rows, pool_idx] + self.attn.forward_pooled(self.ln_1(x), pool_idx)  # (B, C)
        x = x + self.mlp(self.ln_2(x))
        return x

    def forward_packed(self, x, packing):
        """forward() on packed tokens x (N, C) (see Packing) -> (N, C)."""
        x = x + self.attn.forward_packed(self.ln_1(x), packing)
        x = x + self.mlp(self.ln_2(x))
        return x

    def forward_pooled_packed(self, x, packing):
        """forward_pooled() on packed tokens x (N, C): the output at each row's last token, (B, C)."""
        x = x[packing.last_rows] + self.attn.forward_pooled_packed(self.ln_1(x), packing)  # (B, C)
        x = x + self.mlp(self.ln_2(x))
        return x


class Group(NamedTuple):
    """Consecutive (sorted) rows that attention pads together: packed tokens start:end, sorted rows
    row0:row0+rows, padded to `length`; index: where the tokens sit in the padded (rows * length), None
    when every row is `length` long (no padding)."""
    start: int
    end: int
    row0: int
    rows: int
    length: int
    index: torch.Tensor | None


class Packing:
    """The layout of GPT.pooled_hidden_states(packed=True) for a batch whose row b is read up to
    position pool_idx[b]: rows sorted longest first (`order`), their n_b = pool_idx[b] + 1 tokens packed
    one after another into N = sum(n_b) rows for the linear layers, and cut into groups of rows longer
    than half the group's longest, which attention pads to that longest row only (on a CPU; one group on
    a GPU, where attention over padding costs less than the kernel launches of more groups). Built once
    per forward; every block uses it."""

    def __init__(self, pool_idx, split_groups=True):
        lengths = pool_idx + 1
        self.order = torch.argsort(lengths, descending=True, stable=True)  # (B,) batch rows, longest first
        self.lengths = lengths[self.order]  # (B,)
        host = self.lengths.tolist()  # the group sizes (one device sync on a GPU)
        B, N = len(host), sum(host)
        device = pool_idx.device
        starts = self.lengths.cumsum(0) - self.lengths  # (B,) first packed token of each sorted row
        row = torch.repeat_interleave(torch.arange(B, device=device), self.lengths, output_size=N)  # (N,)
        self.positions = torch.arange(N, device=device) - starts[row]  # (N,) position of each token in its row
        self.rows = self.order[row]  # (N,) batch row of each packed token
        self.last_rows = starts + self.lengths - 1  # (B,) packed row of each sorted row's last token
        self.groups = []
        start = r = 0
        while r < B:
            longest, end = host[r], r + 1
            while end < B and (not split_groups or 2 * host[end] > longest):
                end += 1
            tokens = sum(host[r:end])
            index = None if host[end - 1] == longest else (
                (row[start:start + tokens] - r) * longest + self.positions[start:start + tokens])
            self.groups.append(Group(start, start + tokens, r, end - r, longest, index))
            start, r = start + tokens, end

    @staticmethod
    def pad(x, g):
        """The tokens of group g, x (end - start, D) -> (rows, length, D) with zeros after each row."""
        if g.index is not None:
            x = x.new_zeros(g.rows * g.length, x.size(1)).index_copy(0, g.index, x)
        return x.view(g.rows, g.length, x.size(1))

    @staticmethod
    def unpad(y, g):
        """(rows * length, D) -> the real tokens of group g, (end - start, D)."""
        return y if g.index is None else y.index_select(0, g.index)


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2 vocab_size of 50257, padded up to nearest multiple of 64 for efficiency
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # True: bias in Linears and LayerNorms, like GPT-2. False: a bit better and faster


class GPT(nn.Module):

    def __init__(self, config, lm_head=True):
        super().__init__()
        assert config.vocab_size is not None
        assert config.block_size is not None
        self.config = config

        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        # lm_head=False builds the body a classifier needs: no vocabulary projection to compute, tie or
        # save, and wte stays the one copy of the token embeddings.
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False) if lm_head else None
        if lm_head:
            # with weight tying when using torch.compile() some warnings get generated:
            # "UserWarning: functional_call was passed multiple values for tied weights.
            # This behavior is deprecated and will be an error in future versions"
            # not 100% sure what this is, so far seems to be harmless. TODO investigate
            self.transformer.wte.weight = self.lm_head.weight  # https://paperswithcode.com/method/weight-tying

        # init all weights
        self.apply(self._init_weights)
        # apply special scaled init to the residual projections, per GPT-2 paper
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        """
        Return the number of parameters in the model.
        For non-embedding count (default), the position embeddings get subtracted.
        The token embeddings would too, except due to the parameter sharing these
        params are actually used as weights in the final layer, so we include them.
        """
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _check_length(self, t):
        if t > self.config.block_size:
            raise ValueError(
                f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}; "
                "truncate inputs to block_size (max_length) first")

    def embed(self, idx):
        """Token + position embeddings (after dropout) of idx (B, T) -> (B, T, C)."""
        t = idx.size(1)
        self._check_length(t)
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)  # shape (t)
        tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # position embeddings of shape (t, n_embd)
        return self.transformer.drop(tok_emb + pos_emb)

    def hidden_states(self, idx):
        """Final hidden states after ln_f, (B, T, C): what a language-model head reads."""
        x = self.embed(idx)
        for block in self.transformer.h:
            x = block(x)
        return self.transformer.ln_f(x)  # (B, T, C)

    def pooled_hidden_states(self, idx, pool_idx, packed=False):
        """Final hidden state after ln_f at one position per row: idx (B, T), pool_idx (B,) -> (B, C).

        Equals hidden_states(idx)[arange(B), pool_idx], but the last block computes its queries, MLP and
        ln_f for the pooled positions only (keys and values still from all positions): a classifier's
        last block then costs O(B) instead of O(B*T).

        packed=True also drops the positions after each pool_idx[b] before the first block (causal
        attention never carries them back: they are right padding as far as the result goes), so that
        linear layers, MLPs and layer norms work on the sum(pool_idx + 1) real tokens only, and attention
        on rows padded to a length near their own (see Packing). Same result up to float rounding, and
        much less work on padded batches.
        """
        if packed:
            return self._packed_pooled_hidden_states(idx, pool_idx)
        x = self.embed(idx)
        *blocks, last = self.transformer.h
        for block in blocks:
            x = block(x)
        return self.transformer.ln_f(last.forward_pooled(x, pool_idx))  # (B, C)

    def _packed_pooled_hidden_states(self, idx, pool_idx):
        self._check_length(idx.size(1))
        packing = Packing(pool_idx, split_groups=idx.device.type == "cpu")
        tokens = idx[packing.rows, packing.positions]  # (N,) real tokens, longest row first
        x = self.transformer.drop(self.transformer.wte(tokens) + self.transformer.wpe(packing.positions))
        *blocks, last = self.transformer.h
        for block in blocks:
            x = block.forward_packed(x, packing)  # (N, C)
        x = self.transformer.ln_f(last.forward_pooled_packed(x, packing))  # (B, C), rows in packing.order
        return x.index_select(0, torch.argsort(packing.order))  # (B, C) in batch order

    def forward(self, idx, targets=None):
        if self.lm_head is None:
            raise RuntimeError("this GPT was built with lm_head=False (a classifier body); use hidden_states()")
        x = self.hidden_states(idx)
        if targets is not None:
            # if we are given some desired targets also calculate the loss
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            # inference-time mini-optimization: only forward the lm_head on the very last position
            logits = self.lm_head(x[:, [-1], :])  # note: using list [-1] to preserve the time dim
            loss = None
        return logits, loss

    def crop_block_size(self, block_size):
        # model surgery to decrease the block size if necessary
        # e.g. we may load the GPT2 pretrained model checkpoint (block size 1024)
        # but want to use a smaller block size for some smaller, simpler model
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        """Upstream's AdamW: 2-D weights (matmuls, embeddings) decay, biases and LayerNorms don't."""
        params = [p for p in self.parameters() if p.requires_grad]
        optim_groups = [
            {'params': [p for p in params if p.dim() >= 2], 'weight_decay': weight_decay},
            {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0},
        ]
        extra_args = dict(fused=True) if device_type == 'cuda' else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        """Take a conditioning sequence of indices idx (LongTensor of shape (b,t)) and complete
        the sequence max_new_tokens times, feeding the predictions back into the model each time."""
        for _ in range(max_new_tokens):
            # if the sequence context is growing too long we must crop it at block_size
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# -----------------------------------------------------------------------------------------------------
# Checkpoints: the ckpt.pt that upstream nanoGPT's train.py writes, i.e.
#   {'model': state_dict, 'optimizer': AdamW state_dict, 'model_args': dict, 'iter_num': int,
#    'best_val_loss': 0-dim tensor, 'config': dict of train.py's settings}

MODEL_ARGS = ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size', 'dropout')  # train.py's
REQUIRED_ARGS = ('n_layer', 'n_head', 'n_embd', 'block_size')  # the rest: read off the weights or default
WRAPPER_PREFIXES = ('_orig_mod.', 'module.')  # torch.compile's and DDP's wrappers (compile is train.py's default)
MASK_BUFFER = re.compile(r'^transformer\.h\.\d+\.attn\.bias$')  # causal mask of non-flash nanoGPT, not a weight


def _one_line(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _torch_load(path):
    """torch.load that never runs code (weights_only) and puts every tensor on the CPU, whatever
    device saved it; failures become one-line CheckpointErrors."""
    expected = "expected a nanoGPT ckpt.pt as train.py writes it (checkpoint_prefix/model_prefix/ckpt.pt)"
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} not found; {expected}")
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint {path} is a directory; {expected}")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint {path} is an empty file; {expected}")
    try:
        # mmap (zip format only, torch.save's default): only the pages of the model's weights get read,
        # not the optimizer state that is twice their size
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as e:
        msg = str(e)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
        if refused:
            raise CheckpointError(
                f"checkpoint {path} refers to the Python global {refused.group(1)}, which loading with "
                f"weights_only=True refuses (a checkpoint may not run code); {expected}: tensors and plain "
                "Python values only") from None
        detail = msg.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler error:" in msg else msg
        detail = _one_line(detail.split("Check the documentation")[0]) or type(e).__name__
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file ({detail}); {expected}") from None


def _strip_wrapper_prefixes(key):
    while key.startswith(WRAPPER_PREFIXES):
        key = key.removeprefix('_orig_mod.').removeprefix('module.')
    return key


def _model_args_to_config(path, model_args, weights):
    """GPTConfig from a checkpoint's model_args; unknown keys (from forks) are ignored with a warning."""
    missing = [k for k in REQUIRED_ARGS if k not in model_args]
    if missing:
        raise CheckpointError(
            f"checkpoint {path}: model_args lacks {', '.join(map(repr, missing))}; expected nanoGPT's "
            f"model_args with keys {', '.join(MODEL_ARGS)} (found {sorted(model_args)})")
    unknown = sorted(set(model_args) - set(MODEL_ARGS))
    if unknown:
        warnings.warn(f"checkpoint {path}: ignoring model_args keys that nanoGPT's GPT does not know: "
                      f"{', '.join(unknown)}", stacklevel=3)
    args = {k: model_args[k] for k in MODEL_ARGS if k in model_args}
    wte = weights.get('transformer.wte.weight')
    if args.get('vocab_size') is None and torch.is_tensor(wte):
        args['vocab_size'] = wte.shape[0]  # nanoGPT before vocab_size was saved
    if 'bias' not in args:
        args['bias'] = 'transformer.ln_f.bias' in weights  # nanoGPT before the bias flag: biases everywhere
    args.setdefault('dropout', 0.0)
    for k in ('n_layer', 'n_head', 'n_embd', 'block_size', 'vocab_size'):
        v = args.get(k)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CheckpointError(f"checkpoint {path}: model_args {k}={v!r}; expected a positive integer")
    if args['n_embd'] % args['n_head']:
        raise CheckpointError(f"checkpoint {path}: model_args n_embd={args['n_embd']} is not divisible by "
                              f"n_head={args['n_head']}; expected n_embd a multiple of n_head")
    if not isinstance(args['bias'], bool):
        raise CheckpointError(f"checkpoint {path}: model_args bias={args['bias']!r}; expected true or false")
    if isinstance(args['dropout'], bool) or not isinstance(args['dropout'], (int, float)) \
            or not 0 <= args['dropout'] < 1:
        raise CheckpointError(f"checkpoint {path}: model_args dropout={args['dropout']!r}; expected a "
                              "number in [0, 1)")
    return GPTConfig(**args)


def _check_weights(path, config, weights):
    """Every weight of a GPT(config) present with its shape, nothing else; raises CheckpointError."""
    with torch.device("meta"):  # shapes only: allocates nothing
        expected = {k: tuple(v.shape) for k, v in GPT(config, lm_head=False).state_dict().items()}
    described = (f"a GPT with n_layer={config.n_layer}, n_head={config.n_head}, n_embd={config.n_embd}, "
                 f"block_size={config.block_size}, vocab_size={config.vocab_size}, bias={config.bias} "
                 "(from model_args)")
    missing = [k for k in expected if k not in weights]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise CheckpointError(f"checkpoint {path}: weight {missing[0]}{more} missing; expected every weight "
                              f"of {described}")
    unexpected = [k for k in weights if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        raise CheckpointError(f"checkpoint {path}: unexpected weight {unexpected[0]}{more}; expected only the "
                              f"weights of {described}")
    for key, shape in expected.items():
        value = weights[key]
        if not torch.is_tensor(value) or tuple(value.shape) != shape:
            found = f"shape {tuple(value.shape)}" if torch.is_tensor(value) else f"a {type(value).__name__}"
            raise CheckpointError(f"checkpoint {path}: weight {key} has {found}; expected shape {shape} for "
                                  f"{described}")


def read_checkpoint(path):
    """(GPTConfig, weights) of a nanoGPT ckpt.pt, on the CPU and checked against the config.

    weights: state-dict of GPT(config, lm_head=False), i.e. wrapper prefixes stripped and without the
    `attn.bias` mask buffers and the tied lm_head.weight. Raises CheckpointError (one line)."""
    path = os.fspath(path)
    ckpt = _torch_load(path)
    if not isinstance(ckpt, dict) or 'model' not in ckpt or 'model_args' not in ckpt:
        if isinstance(ckpt, dict) and ckpt and all(torch.is_tensor(v) for v in ckpt.values()):
            found = f"a bare state_dict of {len(ckpt)} tensors such as {next(iter(ckpt))}"
        else:
            found = f"keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise CheckpointError(f"checkpoint {path} is not a nanoGPT checkpoint (found {found}); expected a "
                              "dict with 'model' and 'model_args' as nanoGPT's train.py writes")
    if not isinstance(ckpt['model'], dict) or not isinstance(ckpt['model_args'], dict):
        raise CheckpointError(f"checkpoint {path}: 'model' and 'model_args' must be dicts (found "
                              f"{type(ckpt['model']).__name__}, {type(ckpt['model_args']).__name__}); "
                              "expected nanoGPT's state_dict and model_args")
    weights = {_strip_wrapper_prefixes(str(k)): v for k, v in ckpt['model'].items()}
    weights = {k: v for k, v in weights.items() if not MASK_BUFFER.match(k) and k != 'lm_head.weight'}
    config = _model_args_to_config(path, ckpt['model_args'], weights)
    _check_weights(path, config, weights)
    return config, weights


def load_checkpoint(path, map_location="cpu"):
    """The GPT (with its tied lm_head, in eval mode) of a nanoGPT ckpt.pt on map_location ("cpu",
    "cuda", a torch.device). Raises CheckpointError with one line naming the path and the problem."""
    config, weights = read_checkpoint(path)
    model = GPT(config)
    model.load_state_dict(weights, strict=False)  # only lm_head.weight is absent: it is wte's tensor
    return model.to(map_location).eval()


def save_checkpoint(model, path, *, optimizer=None, iter_num=0, best_val_loss=None, config=None,
                    compiled=False):
    """Write a GPT as upstream nanoGPT's train.py does (see the format above). compiled=True prefixes
    every weight with `_orig_mod.`, as a model trained with torch.compile (train.py's default) has it.
    Without an optimizer, a fresh one of train.py's kind is stored (weight decay 0.1, lr 6e-4)."""
    if optimizer is None:
        optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), 'cpu')
    state = model.state_dict()
    if compiled:
        state = {'_orig_mod.' + k: v for k, v in state.items()}
    checkpoint = {
        'model': state,
        'optimizer': optimizer.state_dict(),
        'model_args': {k: getattr(model.config, k) for k in MODEL_ARGS},
        'iter_num': iter_num,
        'best_val_loss': torch.tensor(1e9 if best_val_loss is None else float(best_val_loss)),
        'config': dict(config or {}),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written ckpt.pt
