"""nanoGPT checkpoints: the ckpt.pt that upstream nanoGPT's train.py writes, read and checked.

    config, weights = read_checkpoint("checkpoints/ipa/ckpt.pt")   # GPTConfig, GPT state dict
    model = load_checkpoint("checkpoints/ipa/ckpt.pt")               # GPT with lm_head, eval mode
    save_checkpoint(model, "out/ckpt.pt")                            # train.py's exact format

The format: {'model': state_dict, 'optimizer': AdamW state_dict, 'model_args': dict, 'iter_num': int,
'best_val_loss': 0-dim tensor, 'config': dict of train.py's settings}. Loading never runs code
(weights_only); every problem is one CheckpointError line naming the path and what was expected.
"""
import dataclasses
import os
import re
import warnings
import zipfile

import torch
from torch.overrides import TorchFunctionMode

from model import GPT, GPTConfig

from .errors import CheckpointError, one_line
from .files import write_atomic

MODEL_ARGS = tuple(f.name for f in dataclasses.fields(GPTConfig))  # train.py's model_args keys
REQUIRED_ARGS = ('n_layer', 'n_head', 'n_embd', 'block_size')  # the rest: read off the weights or default
WRAPPER_PREFIXES = ('_orig_mod.', 'module.')  # torch.compile's and DDP's wrappers (compile is train.py's default)
MASK_BUFFER = re.compile(r'^transformer\.h\.\d+\.attn\.bias$')  # causal mask of non-flash nanoGPT, not a weight


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
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True,
                              mmap=zipfile.is_zipfile(path))
    except Exception as e:
        msg = str(e)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", msg)
        if refused:
            raise CheckpointError(python_objects_message(path, refused.group(1))) from None
        detail = msg.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler error:" in msg else msg
        detail = one_line(detail.split("Check the documentation")[0], 160) or type(e).__name__
        raise CheckpointError(f"checkpoint {path} is not a readable PyTorch file ({detail}); {expected}") from None


def python_objects_message(path, global_name):
    """Our own words for a checkpoint that pickles Python objects (torch's point the other way)."""
    return (f"checkpoint {path} holds Python objects ({global_name}), not only tensors and plain "
            "values: loading it could run code, so it is refused for safety. Re-save it as plain "
            "values where it was made: torch.save({'model': model.state_dict(), 'model_args': a dict "
            "of ints, floats and bools, 'iter_num': an int, 'config': a dict of plain values}, "
            "'ckpt.pt'), as nanoGPT's train.py does")


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
    return GPTConfig(**dict(args, dropout=float(args['dropout'])))


class _ShapesOnly(TorchFunctionMode):
    """Builds modules without initialising their weights (only their shapes are wanted): on the meta
    device torch's init kernels are Python decompositions whose first call imports torch._dynamo,
    about 3 s, which a launch's check of every checkpoint should not pay."""
    INIT = frozenset(("normal_", "uniform_", "zero_", "fill_", "kaiming_uniform_", "zeros_", "ones_",
                      "trunc_normal_"))

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in self.INIT:
            return args[0] if args else next(iter(kwargs.values()))
        return func(*args, **kwargs)


def _check_weights(path, config, weights):
    """Every weight of a GPT(config) present with its shape, nothing else; raises CheckpointError."""
    with torch.device("meta"), _ShapesOnly():  # shapes only: allocates and initialises nothing
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
    write_atomic(path, lambda tmp: torch.save(checkpoint, tmp))  # a crash never leaves half a ckpt.pt


def _build(path, what, build, seed, pretrained):
    """build(weights) with the checkpoint's weights, or (pretrained=False) nanoGPT's random init of its
    architecture drawn from `seed`, so that the same seed builds the same body, without touching the
    caller's random generator. A ValueError of the wrapper becomes a CheckpointError naming the path."""
    config, weights = read_checkpoint(path)
    try:
        if pretrained:
            return build(config, weights)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            return build(config, None)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {path}: cannot build {what} from it: {e}") from None


def load_classifier(path, num_labels, *, seed=None, dropout=None, id2label=None, pretrained=True):
    """hf_wrapper's NanoGPTForSequenceClassification with the body of the nanoGPT ckpt.pt at `path`
    and a fresh head (see from_gpt_weights). pretrained=False: the checkpoint's architecture
    (model_args) with nanoGPT's random init instead of its weights (a no-pretraining control), drawn
    from `seed`. Raises CheckpointError (one line) for a bad checkpoint."""
    import hf_wrapper  # transformers: only for the runs that build a model

    def build(config, weights):
        return hf_wrapper.NanoGPTForSequenceClassification.from_gpt_weights(
            config, weights, num_labels, seed=seed, dropout=dropout, id2label=id2label)
    return _build(path, "a classifier", build, seed, pretrained)


def load_causal_lm(path, *, eos_token_id, pad_token_id=None, seed=None, dropout=None, pretrained=True):
    """hf_wrapper's NanoGPTForCausalLM (seq2seq: the whole nanoGPT, lm_head tied to the embeddings)
    of the nanoGPT ckpt.pt at `path`; pretrained=False as for load_classifier (random init from
    `seed`). Raises CheckpointError (one line) for a bad checkpoint or token ids outside its
    vocabulary."""
    import hf_wrapper

    def build(config, weights):
        return hf_wrapper.NanoGPTForCausalLM.from_gpt_weights(
            config, weights, eos_token_id=eos_token_id, pad_token_id=pad_token_id, dropout=dropout)
    return _build(path, "a causal LM", build, seed, pretrained)
