"""Planned runs (experiment.plan_runs) trained one after the other in this process: finetune-exp.py's
seeds. Nothing heavy is imported until a run has work to do.

    exit_code = run_plans(experiment.plan_runs(study, "ipa", ["russian"], ["polish"]), cpus=4)
"""
import sys
import traceback

from ..errors import UserError
from . import experiment


def run_plans(plans, cpus, save_model=True, force=False):
    """Train the plans one after the other in this process; returns the exit code. A finished run is
    skipped (force: run again); every other run's inputs are checked before the first step. A stop
    signal ends the loop once the current run's checkpoint is saved (exit code 128 + the signal); a
    run that fails on anything but bad input is reported and the next one starts (exit code 1)."""
    todo = [plan for plan in plans if force or not _skipped(plan)]
    if not todo:
        return 0
    experiment.check_inputs(todo)
    from . import pipeline  # torch, transformers: only when there is work to do

    failed = []
    for k, plan in enumerate(todo, 1):
        if len(plans) > 1:
            print(f"seed {plan.seed}: run {k} of {len(todo)} to train ({plan.run_id})", flush=True)
        try:
            pipeline.run(plan, cpus=cpus, save_model=save_model, fresh=force)
        except pipeline.Interrupted as stopped:  # already logged; the checkpoint is the resume point
            return stopped.exit_code
        except UserError:  # bad input: the other runs read the same inputs
            raise
        except Exception:
            traceback.print_exc()
            failed.append(plan.run_id)
    if failed:
        print(f"{len(failed)} of {len(todo)} runs failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _skipped(plan):
    """Say so when a run is already finished."""
    done = experiment.finished(plan)
    if done:
        print(done)
    return done is not None
