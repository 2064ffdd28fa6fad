"""model.py: nanoGPT's GPT, loading train.py's checkpoints, the pooled last block, GPT-2 parity."""
import pathlib

import pytest
import torch

from ipa_finetune.errors import CheckpointError, UserError
from ipa_finetune.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tests.ckpt_helpers import TINY, tiny_gpt, train_steps, write_train_py_checkpoint


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every test here runs tiny models in this process."""


def batch(n=3, t=TINY["block_size"], seed=1):
    return torch.randint(0, TINY["vocab_size"], (n, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("compiled,bias,dropout,on_cuda,mask_buffers", [
    (False, True, 0.0, False, False),
    (True, False, 0.1, False, True),
    (True, True, 0.2, True, True),
    (False, False, 0.0, True, False),
])
def test_train_py_checkpoint_loads_and_gives_the_writers_outputs(tmp_path, compiled, bias, dropout, on_cuda,
                                                                  mask_buffers):
    model = tiny_gpt(bias=bias, dropout=dropout)
    optimizer = train_steps(model)
    path = write_train_py_checkpoint(model, tmp_path / "ckpt.pt", optimizer=optimizer, compiled=compiled,
                                     on_cuda=on_cuda, mask_buffers=mask_buffers)
    if on_cuda:  # the simulation is real: a plain load fails on this CPU-only machine
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)

    loaded = load_checkpoint(path)

    assert loaded.config == model.config
    assert not loaded.training
    assert loaded.lm_head.weight is loaded.transformer.wte.weight  # tied, as upstream
    model.eval()
    x = batch()
    with torch.no_grad():
        assert torch.equal(loaded.hidden_states(x), model.hidden_states(x))
        assert torch.equal(loaded(x)[0], model(x)[0])


def test_unknown_model_args_from_forks_are_ignored_with_a_warning(tmp_path):
    model = tiny_gpt()
    path = write_train_py_checkpoint(model, tmp_path / "ckpt.pt", extra_model_args={"n_kv_head": 2})
    with pytest.warns(UserWarning, match=r"ckpt\.pt.*n_kv_head"):
        loaded = load_checkpoint(path)
    x = batch()
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x)[0], model.eval()(x)[0])


def test_model_args_of_old_nanogpt_without_bias_and_vocab_size(tmp_path):
    model = tiny_gpt(bias=False)
    path = tmp_path / "ckpt.pt"
    write_train_py_checkpoint(model, path)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["model_args"]["bias"], ckpt["model_args"]["vocab_size"]
    torch.save(ckpt, path)
    config, _ = read_checkpoint(path)
    assert (config.bias, config.vocab_size) == (False, TINY["vocab_size"])


def test_save_checkpoint_writes_train_py_format(tmp_path):
    model = tiny_gpt(dropout=0.1)
    optimizer = train_steps(model)
    ours = tmp_path / "ours.pt"
    save_checkpoint(model, ours, optimizer=optimizer, iter_num=250, best_val_loss=2.25,
                    config={"dataset": "ipa"}, compiled=True)
    reference = torch.load(write_train_py_checkpoint(model, tmp_path / "ref.pt", optimizer=optimizer),
                           weights_only=True)
    written = torch.load(ours, weights_only=True)

    assert list(written) == list(reference)
    assert list(written["model"]) == list(reference["model"])
    assert all(k.startswith("_orig_mod.") for k in written["model"])
    assert written["model_args"] == reference["model_args"]  # the same keys and values as train.py's
    assert written["best_val_loss"].dim() == 0 and written["best_val_loss"].item() == 2.25
    assert written["iter_num"] == 250 and written["config"] == {"dataset": "ipa"}
    assert written["optimizer"]["state"].keys() == reference["optimizer"]["state"].keys()
    x = batch()
    with torch.no_grad():
        assert torch.equal(load_checkpoint(ours)(x)[0], model.eval()(x)[0])


def test_save_checkpoint_without_optimizer_still_has_one(tmp_path):
    save_checkpoint(tiny_gpt(), tmp_path / "sub" / "ckpt.pt")
    written = torch.load(tmp_path / "sub" / "ckpt.pt", weights_only=True)
    assert len(written["optimizer"]["param_groups"]) == 2
    assert not (tmp_path / "sub" / "ckpt.pt.tmp").exists()


@pytest.mark.parametrize("pool", [
    [31, 0, 7, 16, 30],    # groups of one row, and rows 32 and 31 long padded together
    [5, 20, 5, 20, 5],     # two groups without padding (equal lengths)
    [31, 31, 31, 31, 31],  # no padding at all
])
def test_pooled_hidden_states_equal_the_full_computation(pool):
    """The classifier's packed path (real tokens only, last block on the pooled positions) gives
    hidden_states()[row, pool], with the same gradients: training through it trains the same model."""
    model = tiny_gpt(n_layer=3)
    train_steps(model)  # weights off their init
    model.eval()
    x = batch(n=5)
    pool = torch.tensor(pool)
    shapes = []
    for block in model.transformer.h:
        block.mlp.register_forward_pre_hook(lambda m, args: shapes.append(tuple(args[0].shape)))

    full = model.hidden_states(x)[torch.arange(5), pool]
    shapes.clear()
    pooled = model.pooled_hidden_states(x, pool)
    n_real = int((pool + 1).sum())
    assert shapes == [(n_real, TINY["n_embd"])] * 2 + [(5, TINY["n_embd"])]  # real tokens; then pooled
    assert pooled.shape == (5, TINY["n_embd"])
    assert torch.allclose(pooled, full, atol=1e-5, rtol=0)

    weights = torch.randn(5, TINY["n_embd"], generator=torch.Generator().manual_seed(3))
    grads_full = torch.autograd.grad((full * weights).sum(), list(model.parameters()))
    grads_pooled = torch.autograd.grad((pooled * weights).sum(), list(model.parameters()))
    for a, b in zip(grads_full, grads_pooled):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_final_hidden_states_match_transformers_gpt2():
    from transformers import GPT2Config, GPT2Model

    hf = GPT2Model(GPT2Config(vocab_size=TINY["vocab_size"], n_positions=TINY["block_size"], n_embd=TINY["n_embd"],
                              n_layer=TINY["n_layer"], n_head=TINY["n_head"], activation_function="gelu",
                              layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)).eval()
    ours = tiny_gpt(bias=True).eval()
    hf_state = hf.state_dict()
    with torch.no_grad():
        for name, param in ours.transformer.named_parameters():
            source = hf_state[name]
            if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
                source = source.t()  # GPT-2's Conv1D stores (in, out); nn.Linear (out, in)
            param.copy_(source)
        x = batch()
        expected = hf(input_ids=x).last_hidden_state
        assert torch.allclose(ours.hidden_states(x), expected, atol=1e-5, rtol=0)


def test_sequence_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="block size is only 32"):
        tiny_gpt().hidden_states(torch.zeros(1, 33, dtype=torch.long))


# --- bad checkpoints: one CheckpointError line naming the path, the problem and what was expected --------

def _write(path, obj):
    torch.save(obj, path)


class RunsCode:
    """Unpickling this would touch a file: what weights_only loading must never allow."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _good(tmp_path):
    path = write_train_py_checkpoint(tiny_gpt(), tmp_path / "good.pt")
    return torch.load(path, weights_only=True)


def _without(ckpt, key):
    ckpt["model"].pop("_orig_mod." + key)
    return ckpt


def _with_args(ckpt, **args):
    ckpt["model_args"].update(args)
    return ckpt


BAD = {
    "missing": (None, ["not found", "expected a nanoGPT ckpt.pt"]),
    "directory": ("dir", ["is a directory"]),
    "empty": (b"", ["empty file"]),
    "garbage": (bytes(range(256)) * 4, ["not a readable PyTorch file", "expected a nanoGPT ckpt.pt"]),
    "runs code": (lambda tmp: {"model": {}, "model_args": {}, "x": RunsCode(tmp / "pwned")},
                  ["holds Python objects", "refused for safety", "Re-save it as plain values",
                   "model.state_dict()"]),
    "bare state_dict": (lambda tmp: tiny_gpt().state_dict(),
                        ["not a nanoGPT checkpoint", "bare state_dict", "'model' and 'model_args'"]),
    "no n_head": (lambda tmp: (lambda c: (c["model_args"].pop("n_head"), c)[1])(_good(tmp)),
                  ["model_args lacks 'n_head'", "n_layer, n_head, n_embd"]),
    "n_embd not divisible": (lambda tmp: _with_args(_good(tmp), n_head=5), ["not divisible by n_head=5"]),
    "missing weight": (lambda tmp: _without(_good(tmp), "transformer.h.1.mlp.c_fc.weight"),
                       ["weight transformer.h.1.mlp.c_fc.weight missing", "n_layer=2"]),
    "mis-shaped weight": (lambda tmp: _with_args(_good(tmp), block_size=64),
                          ["transformer.wpe.weight has shape (32, 32)", "expected shape (64, 32)", "block_size=64"]),
    "bias flag disagrees": (lambda tmp: _with_args(_good(tmp), bias=False),
                            ["unexpected weight", ".bias", "bias=False"]),
    "too few layers": (lambda tmp: _with_args(_good(tmp), n_layer=1), ["unexpected weight transformer.h.1."]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_checkpoint_gives_one_clear_line(tmp_path, case):
    content, expected = BAD[case]
    path = tmp_path / "ckpt.pt"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif callable(content):
        _write(path, content(tmp_path))

    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)

    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert "\n" not in message and str(path) in message
    for part in expected:
        assert part in message, message
    assert "weights_only" not in message  # never advice to turn the check off
    assert not (tmp_path / "pwned").exists()
