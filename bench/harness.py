"""What the benchmarks here share: the device they pick, the machine they report, device
synchronisation, and their common flags (--device, --threads, --tiny, one flag per size field)."""
import contextlib
import dataclasses
import os

from ipa_finetune.cli import positive_int
from ipa_finetune.errors import UserError


def pick_device(name):
    """"auto" -> cuda when torch sees a GPU, else cpu; "cuda" without one is a UserError."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                        "use --device cpu or auto")
    return name


def cpu_name():
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    import platform
    return platform.processor() or "unknown CPU"


def machine(device, threads):
    """The machine's description for a report; `load_after` is the caller's to add."""
    import torch

    name = f"cuda:{torch.cuda.get_device_name(0)}" if device == "cuda" else "cpu"
    return {"cpu": f"{cpu_name()} ({os.cpu_count()} cores)", "device": name, "threads": threads,
            "load_before": round(os.getloadavg()[0], 2)}


def sync(device):
    """Wait for the GPU's queued work (timings end when the work does); nothing on a CPU."""
    if device == "cuda":
        import torch
        torch.cuda.synchronize()


def add_common_flags(parser, device_help, tiny_help):
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help=device_help)
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch CPU threads (default: the CPUs this process may use)")
    parser.add_argument("--tiny", action="store_true", help=tiny_help)


def add_size_flags(parser, defaults, units, kinds=None):
    """--<field> (dest field, default None: keep the Size's) for each (field, unit) of units; the help
    shows the default when it is set (not 0). kinds: field -> argparse type (positive_int otherwise)."""
    for field, unit in units:
        value = getattr(defaults, field)
        default = f" (default {value})" if value else ""
        parser.add_argument("--" + field.replace("_", "-"), dest=field, type=(kinds or {}).get(field, positive_int),
                            default=None, help=unit + default)


def size_from_args(size_class, tiny, args):
    """size_class's defaults, updated by `tiny` under --tiny, then by every size flag given; UserError
    unless n_embd is a multiple of n_head."""
    base = dataclasses.asdict(size_class())
    if args.tiny:
        base.update(tiny)
    for field in base:
        if getattr(args, field, None) is not None:
            base[field] = getattr(args, field)
    size = size_class(**base)
    if size.n_embd % size.n_head:
        raise UserError(f"--n-embd {size.n_embd} is not divisible by --n-head {size.n_head}; "
                        "pick n_embd a multiple of n_head")
    return size
