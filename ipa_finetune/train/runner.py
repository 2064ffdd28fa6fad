"""The runs of one job trained in this process: finetune-exp.py's seeds, and the runs of a packed job
(`finetune-exp.py A --then B --then C`, launch/packing.py). Nothing heavy is imported until a run has
work to do; imports, the device and what several runs read (train/loaded.py) are set up once. Each
run keeps its own folder, results, checkpoint and, in a job of several runs, a headed part of the log
(runs.section_line). With runs at once, the runs are shared among processes (run_at_once).

    exit_code = run_plans(experiment.plan_runs(study, "ipa", ["russian"], ["polish"]), cpus=4)
    exit_code = run_queue([Queued(plan_a), Queued(plan_b, force=True)], cpus=4)
    exit_code = run_at_once("finetune-exp.py", [spec_a, spec_b, spec_c, spec_d], cpus=8, processes=2)
"""
import dataclasses
import datetime
import os
import sys
import time
import traceback

from ..errors import UserError, one_line
from ..runs import section_line
from ..slurm import hms
from . import experiment


@dataclasses.dataclass(frozen=True)
class Queued:
    """One run of a job, with its own --force and --no-save-model."""
    plan: object            # experiment.RunPlan
    force: bool = False
    save_model: bool = True


def run_plans(plans, cpus, save_model=True, force=False):
    """run_queue of plans that share their options."""
    return run_queue([Queued(plan, force, save_model) for plan in plans], cpus)


def run_queue(queue, cpus):
    """Train the runs one after the other in this process; returns the exit code. A finished run is
    skipped (unless forced); every other run's inputs are checked before the first step. A stop
    signal ends the job once the current run's checkpoint is saved (exit code 128 + the signal); a
    run that fails is reported and the next one starts (exit code 1). A lone run's bad input is the
    usual one-line error (exit 2)."""
    several = len(queue) > 1
    todo = [k for k, q in enumerate(queue) if q.force or not _skipped(q.plan, k, len(queue))]
    if not todo:
        return 0
    experiment.check_inputs([queue[k].plan for k in todo])
    from . import pipeline  # torch, transformers: only when there is work to do

    failed = []
    for k in todo:
        q, started = queue[k], time.time()
        say = (lambda what, k=k: print(section_line(k + 1, len(queue), q.plan.run_id, what), flush=True)) \
            if several else (lambda what: None)
        say(f"started at {datetime.datetime.now().astimezone().isoformat(timespec='seconds')} "
            f"({q.plan.model_type}, {'+'.join(q.plan.train_langs)} -> {'+'.join(q.plan.eval_langs)}, "
            f"seed {q.plan.seed})")
        try:
            pipeline.run(q.plan, cpus=cpus, save_model=q.save_model, fresh=q.force)
        except pipeline.Interrupted as stopped:  # already logged; the checkpoint is the resume point
            left = len(todo) - todo.index(k) - 1
            say(f"interrupted at step {stopped.step}: checkpoint saved" +
                (f"; {left} run(s) after it not started" if left else ""))
            return stopped.exit_code
        except UserError as e:
            if not several:
                raise
            print(f"{os.path.basename(sys.argv[0])}: error: {one_line(e, 1000)}", file=sys.stderr, flush=True)
            failed.append(q.plan.run_id)
            say(f"failed: {one_line(e, 200)}")
            continue
        except Exception as e:
            traceback.print_exc()
            failed.append(q.plan.run_id)
            say(f"failed: {type(e).__name__}: {one_line(e, 200)}")
            continue
        say(f"finished in {hms(time.time() - started)}")
    if failed:
        print(f"{len(failed)} of {len(todo)} runs failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _skipped(plan, index, count):
    """Say so when a run is already finished."""
    done = experiment.finished(plan)
    if done:
        print(section_line(index + 1, count, plan.run_id, "skipped: already finished (results.json exists)")
              if count > 1 else done, flush=True)
    return done is not None


# ----------------------------------------------------------------------------- runs at once

def process_shares(specs, processes):
    """`specs` cut into `processes` runs of consecutive specs, as even as can be (neighbours share
    their inputs: each process loads what its own runs read)."""
    size, extra = divmod(len(specs), processes)
    out, start = [], 0
    for p in range(processes):
        end = start + size + (p < extra)
        out.append(specs[start:end])
        start = end
    return [group for group in out if group]


def _relay(stream, prefix, lock):
    """A child's output into ours, each line with the child's prefix (lines never mix)."""
    for line in iter(stream.readline, b""):
        with lock:
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.buffer.flush()


def run_at_once(script, specs, cpus, processes):
    """The runs of `specs` (each run's own arguments to `script`, finetune-exp.py) in `processes`
    processes at the same time, on this machine's devices (a GPU is shared), each with
    cpus // processes CPUs (at least 1); each process's lines carry its `[p] ` prefix. A stop signal
    is passed on to every process. Exit code: a process's 128 + signal when one was stopped, else 1
    when one failed, else 0."""
    import signal
    import subprocess
    import threading

    from ..runs import NEXT_RUN

    groups = process_shares(specs, processes)
    share, lock = max(1, cpus // len(groups)), threading.Lock()
    env = dict(os.environ, OMP_NUM_THREADS=str(share))
    children, relays = [], []
    for p, group in enumerate(groups, 1):
        words = [w for spec in group for w in [NEXT_RUN, *spec]][1:]
        child = subprocess.Popen([sys.executable, script, *words, "--cpus", str(share)], env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        relays.append(threading.Thread(target=_relay, args=(child.stdout, f"[{p}] ".encode(), lock)))
        relays[-1].start()
        children.append(child)
    print(f"{len(specs)} runs in {len(children)} processes at once, {share} CPU(s) each", flush=True)

    def forward(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)
    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        codes = [128 - c.wait() if c.wait() < 0 else c.wait() for c in children]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for relay in relays:
            relay.join()
    stopped = [c for c in codes if c >= 128]
    return stopped[0] if stopped else (1 if any(codes) else 0)
