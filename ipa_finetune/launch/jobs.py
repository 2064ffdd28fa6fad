"""Job planning for grid-search.py and finetuning-generator.py (no submission; it reads the inputs to
fingerprint them and writes only a grid job's hyperparameter config; launcher.py and arrays.py do the
other side effects, templates.py renders the scripts).

A Job is one run of finetune-exp.py: (model type, train languages, eval languages, hyperparameter
override, seed). Its run id (ipa_finetune.runs) is known before it is submitted, so a generator can
skip runs that already have results. Several seeds (hyperparameters.seed as a list, or --seeds) make
one job per seed: replicates, each with its own run id. Example:

    planned = plan_transfer_jobs(study, ["config/demo.json"], ["normal", "ipa"])   # 12 jobs
    planned = plan_transfer_jobs(study, files, ["normal", "ipa"], seeds=[1, 2, 3])  # 36 jobs
    to_run, finished = split_finished(planned)
    input_changes(study, to_run)   # ["inputs changed since 27 finished run(s) ...", "  checkpoint ..."]
"""
import dataclasses
import hashlib
import itertools
import os
from collections import Counter

from .. import runs
from ..config.seeds import replicate_seeds, with_seed
from ..config.selection import selection_of
from ..files import write_json_atomic
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
    seed: int | None = None               # the run's seed when the launch runs several (--seed S)
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
    runs_per_job: int = 1     # K: runs per job (launch/packing.py), resolved from slurm.runs_per_job
    runs_at_once: int = 1     # runs of a job training at the same time (slurm.runs_at_once)


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


def finetune_args(config_files, model_type, train_langs, eval_langs, force=False, seed=None):
    """finetune-exp.py's arguments for one run (config files absolute: jobs start elsewhere)."""
    args = [*config_files, "--model-type", model_type,
            "--train-langs", *train_langs, "--eval-langs", *eval_langs]
    args += [] if seed is None else ["--seed", str(seed)]
    return args + ["--force"] if force else args


def job_name(cfg, model_type, train_langs, eval_langs, index=None, seed=None):
    """`<study>-<model type>-<train>-to-<eval>[-<index>][-seed<seed>]`, languages sorted and joined
    by '+' (as in run ids). Names in a config are letters, digits, '_' and '-'
    (config.schema.NAME_RE), so the result is shell- and file-safe."""
    name = f"{cfg['study']}-{model_type}-{'+'.join(sorted(train_langs))}-to-{'+'.join(sorted(eval_langs))}"
    name = name if index is None else f"{name}-{index:03d}"
    return name if seed is None else f"{name}-seed{seed}"


def job_hyperparameters(study, job):
    """The hyperparameters of a planned job's run: the study's with the job's overrides (the grid's,
    from its last config file, and --seed)."""
    return dict(study.hyperparameters, **with_seed(job.hyperparameters, job.seed))


def _job(study, config_files, model_type, train, evals, force, inputs, index=None, hp=None,
         temp_config=None, seed=None, name_seed=None):
    """One Job. inputs: {(model type, train, evals, selection): run_inputs}, shared by the jobs of
    one plan (the inputs do not depend on the other hyperparameters: fingerprint each set once)."""
    override = with_seed(hp, seed)
    run_study = study.with_overrides(hyperparameters=override) if override else study
    cfg_run = run_study.cfg
    key = (model_type, tuple(train), tuple(evals), selection_of(cfg_run["hyperparameters"]))
    if key not in inputs:
        inputs[key] = run_inputs(run_study, model_type, train, evals, strict=False)
    found = inputs[key]
    rid = runs.run_id(cfg_run, model_type, train, evals, found)
    files = list(config_files) + ([temp_config] if temp_config else [])
    name_seed = seed if name_seed is None else name_seed
    return Job(name=job_name(study.cfg, model_type, train, evals, index, name_seed),
               model_type=model_type, train_langs=tuple(train), eval_langs=tuple(evals), run_id=rid,
               run_dir=runs.run_dir(cfg_run, rid),
               args=tuple(finetune_args(files, model_type, train, evals, force, seed)),
               hyperparameters=hp, temp_config=temp_config, seed=seed, inputs=found)


def plan_transfer_jobs(study, config_files, model_types, force=False, seeds=None):
    """finetuning-generator.py: the transfer matrix of the config's languages, per model type, per
    seed (`seeds`: --seeds, else the config's list; each job gets --seed S). Seeds vary slowest, so
    the first replicate of the whole matrix runs first."""
    inputs = {}
    return [_job(study, config_files, mt, train, evals, force, inputs, seed=seed)
            for seed in replicate_seeds(study.hyperparameters, seeds) or [None] for mt in model_types
            for train, evals in transfer_matrix(study.cfg["languages"])]


def grid_parameters(study, grid, seeds=None):
    """The grid's {hyperparameter: values}, with `seeds` (--seeds) as its seed list, else its own
    `seed` values, else the config's seed list: the seed loops last (fastest)."""
    params = dict(grid["parameters"])
    seeds = replicate_seeds(study.hyperparameters, seeds) if seeds or "seed" not in params else None
    if seeds:
        params.pop("seed", None)
        params["seed"] = list(seeds)
    return params


def plan_grid_jobs(study, config_files, grid, model_types, temp_config_dir, force=False, seeds=None):
    """grid-search.py: one job per (model type, permutation of the grid's parameters, seeds
    included: grid_parameters), each training on grid["languages"]["train"] together and evaluating
    on grid["languages"]["eval"]. The permutation's hyperparameters go to a config in
    `temp_config_dir`, passed last to finetune-exp.py; job names end in -seed<S> when seeds loop."""
    train, evals = grid["languages"]["train"], grid["languages"]["eval"]
    params = grid_parameters(study, grid, seeds)
    several = len(params.get("seed", [])) > 1  # values are lists (load_grid_config)
    jobs, inputs = [], {}
    for model_type in model_types:
        for index, hp in enumerate(grid_permutations(params), start=1):
            temp = temp_config_path(temp_config_dir, study.name, index, hp)
            jobs.append(_job(study, config_files, model_type, train, evals, force, inputs, index, hp, temp,
                             name_seed=hp["seed"] if several else None))
    return jobs


def hyperparameter_config(hp):
    """The content of a grid permutation's config file."""
    return {"hyperparameters": hp}


def write_grid_configs(jobs):
    """The hyperparameter config each grid job reads (its last config file)."""
    for job in jobs:
        if job.temp_config:
            write_json_atomic(job.temp_config, hyperparameter_config(job.hyperparameters))


def temp_config_path(folder, study, index, hp):
    """`<folder>/<study>-grid-<index>-<hash8>.json`: the content hash keeps a newer grid from
    overwriting a file that a still-queued job of an older grid will read."""
    digest = hashlib.sha256(runs.canonical(hp).encode()).hexdigest()[:8]
    return os.path.join(folder, f"{study}-grid-{index:03d}-{digest}.json")


def input_changes(study, job_list):
    """Lines summarising, per changed input, how many jobs of which model type it makes new runs."""
    counts, changed, folders = Counter(), 0, {}
    for job in job_list:
        folder = os.path.dirname(job.run_dir)
        finished = folders.setdefault(folder, runs.FinishedRuns(folder))
        found = runs.changed_since(job.run_dir, study.cfg["task"], job_hyperparameters(study, job),
                                   job.inputs, finished)
        if found:
            changed += 1
            counts.update((what, job.model_type) for what in found[1])
    if not changed:
        return []
    lines = [f"inputs changed since {changed} finished run(s) with the same settings (new runs are "
             "trained, the old folders kept):"]
    return lines + [f"  {what}: {n} {mt} job(s)" for (what, mt), n in sorted(counts.items())]


def split_finished(jobs, force=False):
    """(to_run, finished): a job is finished when its run dir holds results.json; --force runs all."""
    if force:
        return list(jobs), []
    finished = [j for j in jobs if runs.is_finished(j.run_dir)]
    done = {j.name for j in finished}
    return [j for j in jobs if j.name not in done], finished
