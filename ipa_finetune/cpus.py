"""The CPUs a process may use: torch threads, data loader workers, epitran workers, --local jobs."""
import os


def usable_cpus():
    """The cores this process may run on (its CPU affinity; every core where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_cpus():
    """CPUs this process may use: Slurm's allocation when inside a job (torch would otherwise use
    every core of the node), else usable_cpus()."""
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    return int(slurm) if slurm.isdigit() and int(slurm) > 0 else usable_cpus()
