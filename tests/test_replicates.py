"""Seed replicates: a seed list in a study or grid config, or --seeds, makes one run per seed, each with
its own run id and job name, for the transfer matrix and for grid points alike; a job's arguments
reproduce exactly its run; finetune-exp.py without --seed trains every seed of the list in turn."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SCRIPTS, one_line_error, run_script, write_overlay, write_study_inputs
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.config import loader
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError
from ipa_finetune.files import write_json_atomic
from ipa_finetune.launch import jobs
from ipa_finetune.train import experiment

STUDY = os.path.join(PROJECT_ROOT, "config", "finetune-rus-pol-sentiment.json")
GRID = os.path.join(PROJECT_ROOT, "config", "grid-search.json")


def reproduced_run_id(job):
    """The run id finetune-exp.py computes from the job's own arguments."""
    args = list(job.args)
    configs = args[:args.index("--model-type")]
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else None
    return experiment.plan_run(load_study(configs), job.model_type, job.train_langs, job.eval_langs,
                               seed=seed).run_id


def test_the_shipped_study_runs_three_seeds(tmp_path):
    overlay = tmp_path / "o.json"
    overlay.write_text(json.dumps({"paths": {"results_dir": str(tmp_path / "r")}}))
    study = load_study([STUDY, str(overlay)])
    assert study.hyperparameters["seed"] == [1, 2, 3]
    planned = jobs.plan_transfer_jobs(study, [STUDY, str(overlay)], ["normal", "ipa"])
    assert len(planned) == 36 and [j.seed for j in planned[::12]] == [1, 2, 3]  # seeds vary slowest
    assert len({j.name for j in planned}) == len({j.run_id for j in planned}) == 36
    job = planned[13]
    assert job.args[-2:] == ("--seed", "2") and job.name.endswith("-seed2")


def test_a_seed_list_in_the_study_config(tiny_study):
    config = tiny_study(hyperparameters={"seed": [1, 2, 3]})
    planned = jobs.plan_transfer_jobs(load_study([config]), [config], ["normal"])
    assert len(planned) == 18 and {j.seed for j in planned} == {1, 2, 3}
    assert all(reproduced_run_id(j) == j.run_id for j in planned[::4])


def test_seeds_flag_replaces_the_config_seed(tiny_study):
    files = [tiny_study()]  # one seed
    study = load_study(files)
    one = jobs.plan_transfer_jobs(study, files, ["ipa"])
    assert len(one) == 6 and "--seed" not in one[0].args and one[0].seed is None
    three = jobs.plan_transfer_jobs(study, files, ["ipa"], seeds=[7, 8, 9])
    assert len(three) == 18 and {j.seed for j in three} == {7, 8, 9}
    assert all(reproduced_run_id(j) == j.run_id for j in three[::5])
    # the seed is the only difference between replicates of a cell
    a, b = three[0], three[6]
    assert (a.train_langs, a.eval_langs) == (b.train_langs, b.eval_langs) and a.run_id != b.run_id


def test_grid_seeds(tmp_path, tiny_study):
    files = [tiny_study(hyperparameters={"seed": [1, 2]})]
    study = load_study(files)
    grid = loader.load_grid_config(GRID, study.cfg)
    params = jobs.grid_parameters(study, grid)
    assert list(params)[-1] == "seed" and params["seed"] == [1, 2]       # the config's list
    assert jobs.grid_parameters(study, grid, seeds=[5])["seed"] == [5]  # --seeds wins
    own = dict(grid, parameters=dict(grid["parameters"], seed=[3, 4, 5]))
    assert jobs.grid_parameters(study, own)["seed"] == [3, 4, 5]        # the grid's own list wins
    planned = jobs.plan_grid_jobs(study, files, grid, ["ipa"], str(tmp_path / "tmp"))
    assert len(planned) == 54 and len({j.name for j in planned}) == len({j.run_id for j in planned}) == 54
    job = planned[1]
    assert job.hyperparameters["seed"] == 2 and job.name.endswith("-002-seed2") and "--seed" not in job.args
    # the grid point's config file holds one seed: the job's own arguments give its run id
    write_json_atomic(job.temp_config, jobs.hyperparameter_config(job.hyperparameters))
    assert reproduced_run_id(job) == job.run_id


def test_seed_values_are_checked(tmp_path):
    bad = tmp_path / "bad.json"
    for value, expected in (([1, 1], "hyperparameters.seed = [1, 1] is not valid"), ([], "= []"),
                            ([1, -2], "a non-empty list of different such integers")):
        bad.write_text(json.dumps({"hyperparameters": {"seed": value}}))
        with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
            loader.load_config([STUDY, str(bad)])
    grid = tmp_path / "g.json"
    grid.write_text(json.dumps({"parameters": {"seed": [[1, 2]]}}))
    with pytest.raises(ConfigError, match=r"parameters.seed = \[1, 2\] is not valid; expected an integer"):
        loader.load_grid_config(str(grid), loader.load_config([STUDY]))


def test_launchers_take_seeds(tmp_path, tiny_assets):
    overlay = write_overlay(tmp_path)
    inputs = write_study_inputs(tmp_path, tiny_assets)  # the launchers check the study's inputs
    out = tmp_path / "jobs"
    p = run_script("finetuning-generator.py", STUDY, inputs, overlay, "--model-type", "ipa", "--seeds", "5", "6",
                   "--dry-run", "--output-dir", out, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "6 configurations x 1 model types (ipa) x 2 seeds" in p.stdout and "12 runs planned" in p.stdout
    assert "runs per job: 2 (auto; 06:00:00 per run" in p.stdout  # long runs: a setting's seeds share a job
    written = "".join(f.read_text() for f in out.iterdir() if f.is_file())  # scripts or job lists
    assert "--train-langs polish --eval-langs russian --seed 6" in written
    line = one_line_error(run_script("grid-search.py", STUDY, inputs, overlay, "--seeds", "3", "3", "--dry-run",
                                     timeout=120))
    assert "--seeds 3 3: repeats a seed" in line
    p = run_script("grid-search.py", STUDY, inputs, overlay, "--model-type", "ipa", "--seeds", "1", "2", "--dry-run",
                   "--output-dir", out, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "54 permutations (27 settings x 2 seeds)" in p.stdout


def test_finetune_exp_trains_every_seed_of_the_config_in_turn(tiny_study):
    """Seeds [1, 2, 3] and no --seed: one run each, one after the other in one process. A SIGTERM
    during seed 2 saves its checkpoint and starts no later seed; the same command then skips seed 1,
    resumes seed 2 and trains seed 3, each into its own run folder."""
    config = tiny_study(languages=1, epochs=3, hyperparameters={"seed": [1, 2, 3], "batch_size": 2})
    plans = experiment.plan_runs(load_study([config]), "normal", ["alpha"], ["alpha"])
    assert [p.seed for p in plans] == [1, 2, 3] and len({p.run_dir for p in plans}) == 3
    command = [sys.executable, SCRIPTS["finetune-exp.py"], config, "--model-type", "normal",
               "--train-langs", "alpha", "--eval-langs", "alpha", "--cpus", "1", "--no-save-model"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, log = time.time() + 180, plans[1].log_file  # 20 steps per epoch: stop seed 2 in epoch 2
    while first.poll() is None and time.time() < deadline and not (
            os.path.exists(log) and "checkpoint saved at step 20 " in open(log, encoding="utf-8").read()):
        time.sleep(0.02)
    first.send_signal(signal.SIGTERM)
    out = first.communicate(timeout=60)[0]
    assert first.returncode == 143, out[-3000:]
    assert os.path.isfile(plans[0].results_file) and not os.path.exists(plans[1].results_file)
    assert os.listdir(plans[1].checkpoints_dir) and not os.path.exists(plans[2].run_dir)
    assert f"===== run 1/3 {plans[0].run_id}: finished in " in out
    assert f"===== run 2/3 {plans[1].run_id}: interrupted at step " in out and "checkpoint saved; 1 run(s) after it not started" in out

    second = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"===== run 1/3 {plans[0].run_id}: skipped: already finished (results.json exists)" in second.stdout
    assert f"===== run 2/3 {plans[1].run_id}: started at " in second.stdout
    assert f"===== run 3/3 {plans[2].run_id}: finished in " in second.stdout
    assert "resuming from checkpoint" in open(plans[1].log_file, encoding="utf-8").read()
    for plan in plans:
        with open(plan.results_file, encoding="utf-8") as f:
            results = json.load(f)
        assert (results["seed"], results["run_id"]) == (plan.seed, plan.run_id)
