"""Job planning for grid-search.py and finetuning-generator.py (no submission, no writing: it only
reads the inputs to fingerprint them; launcher.py does the side effects, templates.py renders the
scripts).

A Job is one run of finetune-exp.py: (model type, train languages, eval languages, hyperparameter
override). Its run id (ipa_finetune.runs) is known before it is submitted, so a generator can skip
runs that already have results. Example:

    planned = plan_transfer_jobs(study, ["config/demo.json"], ["normal", "ipa"])   # 12 jobs
    to_run, finished = split_finished(planned)
"""
import dataclasses
import hashlib
import itertools
import json
import os

from .. import runs
from ..inputs.fingerprint import run_inputs

@dataclasses.dataclass(frozen=True)
class Job:
    """One finetune-exp.py run. `args` are its arguments (after the script name)."""
    name: str
    model_type: str
    train_langs: tuple
    eval_langs: tuple
    run_id: str
    run_dir: str
    args: tuple
    hyperparameters: dict | None = None   # the grid's override (None: the config's own)
    temp_config: str | None = None        # where that override is written (grid only)
    inputs: dict | None = None            # inputs.fingerprint.run_inputs (strict=False: a missing
                                          # input is marked; the launch check reports it)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every job of one launch shares: resources and locations."""
    cpus: int
    gpus: int
    timeout: str
    output_dir: str
    python: str
    project_dir: str


# ----------------------------------------------------------------------------- what to run

def transfer_matrix(languages):
    """The transfer configurations as (train, eval) tuples: with languages A and B exactly the spec's
    A+B->A, A+B->B, A->A, A->B, B->A, B->B. In general: all languages together -> each language,
    then each language -> each language (n + n*n runs; with one language just A->A)."""
    langs = tuple(languages)
    pairs = [(langs, (e,)) for e in langs] if len(langs) > 1 else []
    pairs += [((t,), (e,)) for t in langs for e in langs]
    return pairs


def grid_permutations(parameters):
    """Every combination of the grid's values ({key: [values]}, a scalar counts as one value), in
    file order with the last key varying fastest."""
    keys = list(parameters)
    values = [v if isinstance(v, list) else [v] for v in parameters.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def finetune_args(config_files, model_type, train_langs, eval_langs, force=False):
    """finetune-exp.py's arguments for one run (config files absolute: jobs start elsewhere)."""
    args = [*config_files, "--model-type", model_type,
            "--train-langs", *train_langs, "--eval-langs", *eval_langs]
    return args + ["--force"] if force else args


def job_name(cfg, model_type, train_langs, eval_langs, index=None):
    """`<study>-<model type>-<train>-to-<eval>[-<index>]`, languages sorted and joined by '+' (as in
    run ids). Names in a config
    are letters, digits, '_' and '-' (config.schema.NAME_RE), so the result is shell- and file-safe."""
    name = f"{cfg['study']}-{model_type}-{'+'.join(sorted(train_langs))}-to-{'+'.join(sorted(eval_langs))}"
    return name if index is None else f"{name}-{index:03d}"


def _job(study, config_files, model_type, train, evals, force, index=None, hp=None, temp_config=None):
    # the config finetune-exp.py will see, with the grid's override as its last config file
    cfg_run = study.with_overrides(hyperparameters=hp).cfg if hp else study.cfg
    found = run_inputs(study, model_type, train, evals, strict=False)
    rid = runs.run_id(cfg_run, model_type, train, evals, found)
    files = list(config_files) + ([temp_config] if temp_config else [])
    return Job(name=job_name(study.cfg, model_type, train, evals, index), model_type=model_type,
               train_langs=tuple(train), eval_langs=tuple(evals), run_id=rid,
               run_dir=runs.run_dir(cfg_run, rid),
               args=tuple(finetune_args(files, model_type, train, evals, force)),
               hyperparameters=hp, temp_config=temp_config, inputs=found)


def plan_transfer_jobs(study, config_files, model_types, force=False):
    """finetuning-generator.py: the transfer matrix of the config's languages, per model type."""
    return [_job(study, config_files, mt, train, evals, force)
            for mt in model_types for train, evals in transfer_matrix(study.cfg["languages"])]


def plan_grid_jobs(study, config_files, grid, model_types, temp_config_dir, force=False):
    """grid-search.py: one job per (model type, permutation of grid["parameters"]), each training on
    grid["languages"]["train"] together and evaluating on grid["languages"]["eval"]. The
    permutation's hyperparameters go to a config in `temp_config_dir`, passed last to finetune-exp.py."""
    train, evals = grid["languages"]["train"], grid["languages"]["eval"]
    jobs = []
    for model_type in model_types:
        for index, hp in enumerate(grid_permutations(grid["parameters"]), start=1):
            temp = temp_config_path(temp_config_dir, study.name, index, hp)
            jobs.append(_job(study, config_files, model_type, train, evals, force, index, hp, temp))
    return jobs


def hyperparameter_config(hp):
    """The content of a grid permutation's config file."""
    return {"hyperparameters": hp}


def temp_config_path(folder, study, index, hp):
    """`<folder>/<study>-grid-<index>-<hash8>.json`: the content hash keeps a newer grid from
    overwriting a file that a still-queued job of an older grid will read."""
    digest = hashlib.sha256(json.dumps(hp, sort_keys=True).encode()).hexdigest()[:8]
    return os.path.join(folder, f"{study}-grid-{index:03d}-{digest}.json")


def split_finished(jobs, force=False):
    """(to_run, finished): a job is finished when its run dir holds results.json; --force runs all."""
    if force:
        return list(jobs), []
    finished = [j for j in jobs if runs.is_finished(j.run_dir)]
    done = {j.name for j in finished}
    return [j for j in jobs if j.name not in done], finished
