"""Several runs per job: how many runs share one Slurm job (or array task), which ones, and how long
the job asks for (pure, but for the one scontrol call of job_limit).

A study of short runs pays the start-up of a job (imports of torch and transformers, CUDA, the queue)
once per job, so the launchers pack K runs into each job: finetune-exp.py trains them one after
another in one process (`A --then B --then C`: train/runner.py), loading what they share once. Each
run keeps its own run folder, results, checkpoint and manifest line.

- K is slurm.runs_per_job (or --runs-per-job): a count, or "auto": as many runs as fit in AUTO_JOB_TIME
  of the per-run time limit, times slurm.runs_at_once (runs training at the same time in a job), and
  at least the seeds of one setting, as far as MaxTime allows.
- The time limit stays per run: a job of n runs asks for ceil(n / runs_at_once) x the limit. That
  must fit the partition's MaxTime (`scontrol show partition`): "auto" stays within it, a count that
  does not is an error before anything is written.
- Runs of the same model type, train and eval languages go next to each other (the runs of a job
  share their tokenizer, checkpoint and data), in as few jobs as K allows, sized evenly.

    limit = job_limit(cfg)                                     # ("gpu", 86400) or None
    k = runs_per_job("auto", "00:20:00", 1, limit)             # 12
    packs = pack(to_run, k)                                    # [Pack(name, runs), ...]
    job_time(packs[0], settings)                               # "04:00:00"
"""
import dataclasses
import math

from ..errors import UserError
from ..runs import NEXT_RUN
from ..slurm import partition_max_time, seconds, slurm_time

# "auto" packs as many runs as fit in 4 hours of their time limit, and at least the seeds of one
# setting: short runs share jobs (20-minute runs: 12 to a job); long ones, whose start-up is nothing
# beside them, share a job only with their setting's other seeds (the same data and checkpoint,
# loaded once), within the partition's MaxTime; 4 hours stays within the short queues and backfill
# windows of most clusters.
AUTO_JOB_TIME = 4 * 3600


@dataclasses.dataclass(frozen=True)
class JobLimit:
    """The partition the jobs go to and its MaxTime in seconds (None: unlimited)."""
    partition: str
    max_seconds: int | None

    def __str__(self):
        limit = "no MaxTime" if self.max_seconds is None else f"MaxTime {slurm_time(self.max_seconds)}"
        return f"partition {self.partition} ({limit}, from scontrol show partition)"


@dataclasses.dataclass(frozen=True)
class Pack:
    """One Slurm job (or array task): runs (jobs.Job, one per run) trained one after another."""
    name: str
    runs: tuple

    def args(self, runs_at_once=1):
        """finetune-exp.py's arguments: each run's, separated by NEXT_RUN (then --runs-at-once)."""
        words = [w for run in self.runs for w in (NEXT_RUN, *run.args)][1:]
        return words + (["--runs-at-once", str(runs_at_once)] if runs_at_once > 1 and len(self.runs) > 1 else [])

    @property
    def run_ids(self):
        return [run.run_id for run in self.runs]


def parse_runs_per_job(text):
    """An argparse `type` for --runs-per-job: "auto" or a whole number >= 1."""
    import argparse

    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'expected "auto" or a whole number >= 1, got {text!r}')
    return int(text)


def job_limit(cfg):
    """The JobLimit of the config's partition (slurm.options.partition, else Slurm's default one), or
    None when Slurm cannot say (no scontrol, controller down, a partition it does not know)."""
    wanted = (cfg["slurm"].get("options") or {}).get("partition")
    found = partition_max_time(str(wanted).split(",")[0] if wanted else None)
    return JobLimit(*found) if found else None


def runs_per_job(setting, timeout, runs_at_once, limit, seeds=1,
                 origin="slurm.runs_per_job or --runs-per-job"):
    """K for slurm.runs_per_job `setting` and the per-run `timeout` (a Slurm time), within `limit`
    (a JobLimit or None); "auto" packs at least the `seeds` replicates of one setting. Raises
    UserError when even one run, or K runs, would not fit."""
    per_run = seconds(timeout)
    most = limit.max_seconds if limit and limit.max_seconds is not None else None
    if most is not None and per_run > most:
        raise UserError(f"the time limit per run, {slurm_time(per_run)} (slurm.timeout or --timeout), is "
                        f"longer than {limit} allows: shorten it")
    if setting == "auto":
        k = max(AUTO_JOB_TIME // max(per_run, 1) * runs_at_once, seeds, 1)
        return k if most is None else max(1, min(k, most // max(per_run, 1) * runs_at_once))
    asked = math.ceil(setting / runs_at_once) * per_run
    if most is not None and asked > most:
        fits = most // per_run * runs_at_once
        raise UserError(f"{setting} runs per job ({origin}) x {slurm_time(per_run)} per run asks for "
                        f"{slurm_time(asked)} per job, longer than {limit} allows: use at most {fits} runs "
                        "per job, a shorter --timeout, or runs_per_job \"auto\"")
    return setting


def sharing_key(run):
    """Runs that read the same tokenizer, checkpoint and data sort together."""
    return run.model_type, tuple(sorted(run.train_langs)), tuple(sorted(run.eval_langs))


def pack(runs, k):
    """The runs in jobs of at most k runs each: as few jobs as that allows, their sizes differing by
    at most one; with k > 1 the runs of one sharing_key are put next to each other (the keys in the
    order they first appear, the runs of a key in the planned order)."""
    first = {}
    for run in runs:
        first.setdefault(sharing_key(run), len(first))
    ordered = list(runs) if k == 1 else sorted(runs, key=lambda run: first[sharing_key(run)])
    count = math.ceil(len(ordered) / k) if ordered else 0
    size, extra = divmod(len(ordered), count) if count else (0, 0)
    packs, start = [], 0
    for j in range(count):
        end = start + size + (j < extra)
        packs.append(make_pack(ordered[start:end]))
        start = end
    return packs


def make_pack(runs):
    """A Pack named after its first run (`<name>-and-<n-1>-more` for several)."""
    runs = tuple(runs)
    name = runs[0].name if len(runs) == 1 else f"{runs[0].name}-and-{len(runs) - 1}-more"
    return Pack(name, runs)


def job_time(pack_or_count, settings):
    """What a job asks Slurm for: its runs' time limit (settings.timeout) x the runs done one after
    another (ceil(runs / settings.runs_at_once))."""
    count = pack_or_count if isinstance(pack_or_count, int) else len(pack_or_count.runs)
    in_turn = math.ceil(count / settings.runs_at_once)
    return settings.timeout if in_turn == 1 else slurm_time(in_turn * seconds(settings.timeout))


def describe(packs, runs_per_job):
    """`24 runs in 2 jobs (12 runs per job)` for messages."""
    total = sum(len(p.runs) for p in packs)
    return f"{total} runs in {len(packs)} job{'s' if len(packs) != 1 else ''} (up to {runs_per_job} per job)"
