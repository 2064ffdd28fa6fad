"""
The nanoGPT GPT model, module for module and parameter for parameter as upstream nanoGPT's model.py,
so that the researchers' `ckpt.pt` files load unchanged (ipa_finetune/checkpoint.py reads them).

    model = GPT(GPTConfig(n_layer=2, n_head=2, n_embd=32), lm_head=False)
    h = model.hidden_states(idx)                       # (B, T, C) after ln_f
    h = model.pooled_hidden_states(idx, pool_idx)      # (B, C): row b at position pool_idx[b], cheaper

    cache = KVCache()                                  # decoding: the prefix is computed once
    h = model.hidden_states(prompt, attention_mask=mask, position_ids=pos, cache=cache)   # (B, P, C)
    h = model.hidden_states(next_token, attention_mask=longer_mask, position_ids=pos[:, -1:] + 1,
                            cache=cache)                                                   # (B, 1, C)

Additions to upstream, for a classifier: GPT(config, lm_head=False) builds the body without the
vocabulary projection, and pooled_hidden_states() runs the blocks on the real tokens only (Packing)
with the last block on the pooled positions only. For generation: a key/value cache (KVCache, or any
object with the same update(k, v, layer_idx) / get_seq_length() protocol, such as transformers'
DynamicCache) holds each layer's keys and values (B, nh, P, hs) of the P tokens seen so far, so that a
new token costs one position, not the whole prefix; positions continue from the cache length unless
position_ids say otherwise. Padding: left padding for generation (rows end together, so every row's
next token is at the same place), described by attention_mask (B, P + T), 1 = real token, with
position_ids counting real tokens only (cumsum(mask) - 1), which gives each row the positions it has
alone; right padding for training needs no mask at all (causal attention never looks forward). This
file imports only torch and the standard library, so it can be copied out on its own, as nanoGPT's can.

References:
1) the official GPT-2 TensorFlow implementation released by OpenAI
2) huggingface/transformers PyTorch implementation
3) Karpathy's nanoGPT
"""
import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


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

    def forward(self, x, attn_mask=None, cache=None, layer_idx=0):
        """x (B, T, C) -> (B, T, C). cache: this layer's keys and values of earlier tokens are read from
        and these T appended to it (see KVCache); attn_mask (B, 1, T, P + T) bool, True = attend, or None
        for plain causal attention (exact when no prefix is cached, or for one new token)."""
        B, T, C = x.size()  # batch size, sequence length, embedding dimensionality (n_embd)
        # calculate query, key, values for all heads in batch and move head forward to be the batch dim
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(k, v, layer_idx)  # (B, nh, P + T, hs): the cached prefix, then these T
        # causal self-attention; Self-attend: (B, nh, T, hs) x (B, nh, hs, P + T) -> (B, nh, T, P + T)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0,
            is_causal=attn_mask is None and k.size(2) == T)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble all head outputs side by side
        # output projection
        y = self.resid_dropout(self.c_proj(y))
        return y

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
        """The attention output at each row's last token only, x (N, C) packed -> (B, C), rows in packing
        order. Keys and values come from every token of the row; only the query and the output
        projection shrink to one position per row, which is what makes a classifier's last block cheap."""
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

    def forward(self, x, attn_mask=None, cache=None, layer_idx=0):
        x = x + self.attn(self.ln_1(x), attn_mask, cache, layer_idx)
        x = x + self.mlp(self.ln_2(x))
        return x

    def forward_packed(self, x, packing):
        """forward() on packed tokens x (N, C) (see Packing) -> (N, C)."""
        x = x + self.attn.forward_packed(self.ln_1(x), packing)
        x = x + self.mlp(self.ln_2(x))
        return x

    def forward_pooled_packed(self, x, packing):
        """The block's output at each row's last token only, x (N, C) packed -> (B, C)."""
        x = x[packing.last_rows] + self.attn.forward_pooled_packed(self.ln_1(x), packing)  # (B, C)
        x = x + self.mlp(self.ln_2(x))
        return x


@dataclass(frozen=True, eq=False)
class Group:
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
    """The layout of GPT.pooled_hidden_states() for a batch whose row b is read up to
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


class KVCache:
    """Each layer's keys and values (B, nh, P, hs) of the P tokens seen so far: what lets decoding one
    new token skip recomputing the prefix. update() appends a layer's new keys and values and returns
    the whole of them; transformers' Cache classes (DynamicCache) follow the same protocol, so either
    can be passed to GPT.hidden_states()."""

    def __init__(self):
        self.layers = []  # [(k, v)] per layer, each (B, nh, P, hs)

    def update(self, k, v, layer_idx):
        if layer_idx == len(self.layers):
            self.layers.append((k, v))
        else:
            past_k, past_v = self.layers[layer_idx]
            self.layers[layer_idx] = (torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2))
        return self.layers[layer_idx]

    def get_seq_length(self, layer_idx=0):
        return self.layers[layer_idx][0].size(2) if layer_idx < len(self.layers) else 0


def attention_mask_4d(attention_mask, T, past, device=None):
    """The mask attention needs for T new tokens after `past` cached ones, (B, 1, T, past + T) bool
    (True = attend), or None where plain causal attention is exact: no padding and no prefix or a
    single new token, or right padding without a prefix (a real token never looks forward at the
    padding). attention_mask: (B, past + T), 1 = real token, or None (no padding)."""
    if attention_mask is not None:
        if attention_mask.size(1) != past + T:
            raise ValueError(f"attention_mask covers {attention_mask.size(1)} positions; expected the "
                             f"{past} cached plus the {T} new ones")
        attention_mask = attention_mask.bool()
        if attention_mask.all():
            attention_mask = None
        elif past == 0 and not (attention_mask[:, 1:] & ~attention_mask[:, :-1]).any():
            return None  # right padding: no real token after a padding one
    if attention_mask is None and (past == 0 or T == 1):
        return None
    q_pos = torch.arange(past, past + T, device=device)[:, None]  # (T, 1) absolute positions
    k_pos = torch.arange(past + T, device=device)[None, :]  # (1, past + T)
    allowed = k_pos <= q_pos  # (T, past + T): causal, offset by the cache
    if attention_mask is not None:
        # a padding query attends to itself, so that no row of the softmax is empty (NaN)
        allowed = (allowed & attention_mask[:, None, :]) | (k_pos == q_pos)  # (B, T, past + T)
    return allowed.view(-1, 1, T, past + T)  # (B or 1, 1, T, past + T)


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

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _check_length(self, t):
        if t > self.config.block_size:  # wpe has block_size rows
            raise ValueError(
                f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}; "
                "truncate inputs to block_size (max_length) first")

    def embed(self, idx, position_ids=None, past=0):
        """Token + position embeddings (after dropout) of idx (B, T) -> (B, T, C); positions
        past..past+T-1 unless position_ids (B or 1, T) are given."""
        t = idx.size(1)
        self._check_length(past + t)
        if position_ids is None:
            position_ids = torch.arange(past, past + t, dtype=torch.long, device=idx.device)  # shape (t)
        tok_emb = self.transformer.wte(idx)  # token embeddings of shape (b, t, n_embd)
        pos_emb = self.transformer.wpe(position_ids)  # position embeddings of shape (t or b, t, n_embd)
        return self.transformer.drop(tok_emb + pos_emb)

    def hidden_states(self, idx, attention_mask=None, position_ids=None, cache=None):
        """Final hidden states after ln_f, (B, T, C): what a language-model head reads. For decoding
        (module docstring): cache holds the earlier tokens' keys and values and receives these T;
        attention_mask (B, P + T) marks real tokens (1) among the cached and new ones; position_ids
        (B, T) default to P..P+T-1."""
        past = cache.get_seq_length() if cache is not None else 0
        x = self.embed(idx, position_ids, past)
        mask = attention_mask_4d(attention_mask, idx.size(1), past, idx.device)
        for i, block in enumerate(self.transformer.h):
            x = block(x, mask, cache, i)
        return self.transformer.ln_f(x)  # (B, T, C)

    def pooled_hidden_states(self, idx, pool_idx):
        """Final hidden state after ln_f at one position per row: idx (B, T), pool_idx (B,) -> (B, C).

        Equals hidden_states(idx)[arange(B), pool_idx] up to float rounding, with much less work: the
        positions after each pool_idx[b] are dropped before the first block (causal attention never
        carries them back), so linear layers, MLPs and layer norms run on the sum(pool_idx + 1) real
        tokens only and attention on rows padded to a length near their own (see Packing); the last
        block computes its queries, MLP and ln_f for the pooled positions only.
        """
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

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        """Upstream's AdamW: every 2-D parameter (matmul weights and embeddings) decays; biases and
        LayerNorm weights (1-D) don't."""
        params = [p for p in self.parameters() if p.requires_grad]
        optim_groups = [
            {'params': [p for p in params if p.dim() >= 2], 'weight_decay': weight_decay},
            {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0},
        ]
        # the fused kernel is faster on a GPU, when this torch has it
        fused = 'fused' in inspect.signature(torch.optim.AdamW).parameters and device_type == 'cuda'
        extra_args = dict(fused=True) if fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
