"""Where a benchmark runs: the device it picks, the machine it reports, device synchronisation.
Shared by bench_throughput.py and bench_generation.py."""
import contextlib
import os

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
