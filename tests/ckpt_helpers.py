"""Test helpers: tiny nanoGPT models, and checkpoints written the way upstream nanoGPT's train.py writes
them (independently of model.save_checkpoint, so that its format is checked, not assumed)."""
import contextlib

import torch

from model import GPT, GPTConfig

TINY = dict(n_layer=2, n_head=4, n_embd=32, block_size=32, vocab_size=64)

# train.py's `config` dict (its settings), as a compiled bf16 run on a GPU saves it
TRAIN_PY_CONFIG = {
    "out_dir": "out-ipa", "eval_interval": 250, "log_interval": 10, "eval_iters": 200, "eval_only": False,
    "always_save_checkpoint": False, "init_from": "scratch", "wandb_log": False, "wandb_project": "ipa",
    "wandb_run_name": "gpt2", "dataset": "ipa", "gradient_accumulation_steps": 1, "batch_size": 64,
    "block_size": 32, "n_layer": 2, "n_head": 4, "n_embd": 32, "dropout": 0.0, "bias": False,
    "learning_rate": 1e-3, "max_iters": 5000, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.99,
    "grad_clip": 1.0, "decay_lr": True, "warmup_iters": 100, "lr_decay_iters": 5000, "min_lr": 1e-4,
    "backend": "nccl", "device": "cuda", "dtype": "bfloat16", "compile": True,
}


def tiny_gpt(seed=0, lm_head=True, **overrides):
    torch.manual_seed(seed)
    return GPT(GPTConfig(**{**TINY, **overrides}), lm_head=lm_head)


def train_steps(model, steps=2, seed=0):
    """A few AdamW steps as train.py takes them, so weights move off their init and the optimizer has
    state (step counts, moments) to save. Returns the optimizer."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    model.train()
    for _ in range(steps):
        x = torch.randint(0, model.config.vocab_size, (4, model.config.block_size), generator=gen)
        _, loss = model(x, targets=torch.roll(x, -1, dims=1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return optimizer


# Simulated GPU save: a storage tagger (torch's public register_package) that records CPU tensors as
# "cuda:0" while the flag is on; then torch.load without map_location fails on a CPU-only machine
# exactly as with a file saved on a GPU. Inert while the flag is off.
_SAVE_AS_CUDA = [False]


def _cuda_tag(storage):
    return "cuda:0" if _SAVE_AS_CUDA[0] and storage.device.type == "cpu" else None


torch.serialization.register_package(1, _cuda_tag, lambda storage, location: None)


@contextlib.contextmanager
def saved_as_cuda():
    _SAVE_AS_CUDA[0] = True
    try:
        yield
    finally:
        _SAVE_AS_CUDA[0] = False


def write_train_py_checkpoint(model, path, *, optimizer=None, compiled=True, on_cuda=False,
                              mask_buffers=False, extra_model_args=None, iter_num=250):
    """torch.save what train.py saves: {'model', 'optimizer', 'model_args', 'iter_num', 'best_val_loss',
    'config'}. compiled: keys as torch.compile's OptimizedModule names them ('_orig_mod.' + key; built by
    hand because importing torch._dynamo costs seconds). mask_buffers: the `attn.bias` causal-mask
    buffers of nanoGPT without flash attention. on_cuda: storages tagged as saved from a GPU."""
    c = model.config
    state = dict(model.state_dict())
    if mask_buffers:
        for i in range(c.n_layer):
            state[f"transformer.h.{i}.attn.bias"] = torch.tril(torch.ones(c.block_size, c.block_size)).view(
                1, 1, c.block_size, c.block_size)
    if compiled:
        state = {"_orig_mod." + k: v for k, v in state.items()}
    model_args = dict(n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, block_size=c.block_size,
                      bias=c.bias, vocab_size=c.vocab_size, dropout=c.dropout, **(extra_model_args or {}))
    optimizer = optimizer or model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    checkpoint = {
        "model": state,
        "optimizer": optimizer.state_dict(),
        "model_args": model_args,
        "iter_num": iter_num,
        "best_val_loss": torch.zeros(20).fill_(2.25).mean(),  # estimate_loss(): losses.mean(), 0-dim
        "config": dict(TRAIN_PY_CONFIG),
    }
    with saved_as_cuda() if on_cuda else contextlib.nullcontext():
        torch.save(checkpoint, path)
    return path
