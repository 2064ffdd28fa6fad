"""Tiny causal-LM pretraining for the demo checkpoints: upstream nanoGPT train.py's loop, cut down.

Same optimizer set-up (AdamW, weight decay on 2-D weights only, betas 0.9/0.95), same learning-rate
schedule (linear warmup, cosine decay to min_lr), same random-window batches and the same periodic
loss estimate; no DDP, no gradient accumulation, no mixed precision (CPU). The result is saved by
build_demo.py with model.save_checkpoint in train.py's exact format, optimizer state included.
"""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from model import GPT, GPTConfig


@dataclass
class PretrainConfig:
    """Training settings; asdict() of it is stored as the checkpoint's `config` (like train.py's)."""
    out_dir: str = "demo/checkpoints"
    dataset: str = "demo"
    max_iters: int = 600
    eval_interval: int = 100
    eval_iters: int = 10
    batch_size: int = 32
    block_size: int = 128
    learning_rate: float = 3e-3   # tiny models tolerate (and need, in few steps) a large lr
    min_lr: float = 3e-4          # ~learning_rate/10, as nanoGPT recommends
    warmup_iters: int = 50
    lr_decay_iters: int = 600     # = max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    decay_lr: bool = True
    device: str = "cpu"
    dtype: str = "float32"
    compile: bool = False
    seed: int = 1337


def learning_rate(it, cfg):
    """Linear warmup, then cosine decay down to min_lr (nanoGPT's get_lr)."""
    if not cfg.decay_lr:
        return cfg.learning_rate
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it > cfg.lr_decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / (cfg.lr_decay_iters - cfg.warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def get_batch(data, cfg, gen):
    """`batch_size` random windows of `block_size` tokens and the same shifted by one: (B, T) each."""
    ix = torch.randint(len(data) - cfg.block_size - 1, (cfg.batch_size,), generator=gen)
    x = torch.stack([torch.from_numpy(data[i:i + cfg.block_size].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1:i + 1 + cfg.block_size].astype(np.int64)) for i in ix])
    return x, y


@torch.no_grad()
def estimate_loss(model, splits, cfg, gen):
    """Mean loss over `eval_iters` random batches of each split (dict name -> token array)."""
    model.eval()
    out = {}
    for name, data in splits.items():
        losses = [model(*get_batch(data, cfg, gen))[1].item() for _ in range(cfg.eval_iters)]
        out[name] = float(np.mean(losses))
    model.train()
    return out


def pretrain(train_data, val_data, model_args, cfg, log=print):
    """Train a fresh GPT(model_args) on the token arrays; returns (model, optimizer, iter_num,
    best_val_loss, history) where history lists {"iter", "train", "val"} loss estimates."""
    torch.manual_seed(cfg.seed)
    model = GPT(GPTConfig(**model_args))
    optimizer = model.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                           cfg.device)
    batch_gen = torch.Generator().manual_seed(cfg.seed)
    eval_gen = torch.Generator().manual_seed(cfg.seed + 1)
    history, best_val_loss = [], float("inf")
    t0 = time.time()
    for it in range(cfg.max_iters + 1):
        if it % cfg.eval_interval == 0 or it == cfg.max_iters:
            losses = estimate_loss(model, {"train": train_data, "val": val_data}, cfg, eval_gen)
            best_val_loss = min(best_val_loss, losses["val"])
            history.append({"iter": it, **losses})
            log(f"  iter {it:5d}: train loss {losses['train']:.3f}, val loss {losses['val']:.3f}"
                f" ({time.time() - t0:.0f} s)")
        if it == cfg.max_iters:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(it, cfg)
        x, y = get_batch(train_data, cfg, batch_gen)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
    return model, optimizer, cfg.max_iters, best_val_loss, history


def config_dict(cfg, model_args):
    """The checkpoint's `config`: train.py stores its settings and the model's shape side by side."""
    shape = {k: model_args[k] for k in ("n_layer", "n_head", "n_embd", "dropout", "bias")}
    return {**asdict(cfg), **shape}
