"""Job planning and template rendering (ipa_finetune.jobs): pure functions, no Slurm needed."""
import dataclasses
import os
import shlex
import subprocess

import pytest

from conftest import write_overlay
from ipa_finetune import runs
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.config import loader
from ipa_finetune.config.schema import REQUIRED_TEMPLATE_FIELDS
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError, UserError
from ipa_finetune.files import write_json_atomic
from ipa_finetune.launch import arrays, jobs, packing, templates
from ipa_finetune.manifest import log_path
from ipa_finetune.train import experiment

STUDY = os.path.join(PROJECT_ROOT, "config", "finetune-rus-pol-sentiment.json")
GRID = os.path.join(PROJECT_ROOT, "config", "grid-search.json")
TEMPLATES = os.path.join(PROJECT_ROOT, "jobs", "templates")
GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
# Fixed, machine-independent locations for the golden files; the spaces must survive quoting.
SETTINGS = jobs.Settings(cpus=8, gpus=1, timeout="06:00:00", output_dir="/srv/ipa finetune/jobs/rus-pol",
                         python="/opt/py env/bin/python", project_dir="/srv/ipa finetune")


@pytest.fixture
def study(tmp_path):
    files = [STUDY, write_overlay(tmp_path)]
    return files, load_study(files)


def test_transfer_matrix_two_languages_is_exactly_the_specs_six():
    assert jobs.transfer_matrix(["A", "B"]) == [
        (("A", "B"), ("A",)), (("A", "B"), ("B",)),
        (("A",), ("A",)), (("A",), ("B",)), (("B",), ("A",)), (("B",), ("B",))]


def test_transfer_matrix_generalises_to_all_to_each_and_each_to_each():
    pairs = jobs.transfer_matrix(["A", "B", "C"])
    assert len(pairs) == 3 + 9
    assert pairs[:3] == [(("A", "B", "C"), (e,)) for e in "ABC"]
    assert set(pairs[3:]) == {((t,), (e,)) for t in "ABC" for e in "ABC"}
    assert jobs.transfer_matrix(["A"]) == [(("A",), ("A",))]  # all == each: no duplicate run


def test_plan_transfer_jobs_six_per_model_type(study):
    files, st = study
    cfg = st.cfg
    planned = jobs.plan_transfer_jobs(st, files, ["normal", "ipa"])
    got = {(j.model_type, tuple(sorted(j.train_langs)), j.eval_langs) for j in planned}
    both = ("polish", "russian")
    want = {(m, t, e) for m in ("normal", "ipa") for t, e in [
        (both, ("russian",)), (both, ("polish",)), (("russian",), ("russian",)),
        (("russian",), ("polish",)), (("polish",), ("russian",)), (("polish",), ("polish",))]}
    assert len(planned) == 12 and got == want
    assert len({j.name for j in planned}) == 12 and len({j.run_id for j in planned}) == 12
    job = planned[0]
    assert job.args[:2] == tuple(files)
    assert job.args[2:] == ("--model-type", "normal", "--train-langs", "russian", "polish",
                            "--eval-langs", "russian")
    assert job.name == "rus-pol-sentiment-normal-polish+russian-to-russian"
    assert job.run_dir == os.path.join(cfg["paths"]["results_dir"], "rus-pol-sentiment", job.run_id)
    assert jobs.plan_transfer_jobs(st, files, ["ipa"], force=True)[0].args[-1] == "--force"


def test_spec_example_grid_gives_27_jobs_per_model_type(study, tmp_path):
    files, st = study
    cfg = st.cfg
    grid = loader.load_grid_config(GRID, cfg)
    planned = jobs.plan_grid_jobs(st, files, grid, ["normal", "ipa"], str(tmp_path / "tmp"))
    assert len(planned) == 54
    for model_type in ("normal", "ipa"):
        mine = [j for j in planned if j.model_type == model_type]
        assert len(mine) == 27
        combos = {(j.hyperparameters["learning_rate"], j.hyperparameters["batch_size"],
                   j.hyperparameters["warmup_ratio"]) for j in mine}
        assert combos == {(lr, bs, wr) for lr in (1e-3, 5e-4, 1e-4) for bs in (16, 32, 64)
                          for wr in (0.0, 0.1, 0.2)}
        assert all(j.hyperparameters["epochs"] == 3 for j in mine)  # the static value
        # "all" -> all languages together, for training and for evaluation
        assert all(j.train_langs == ("polish", "russian") == j.eval_langs for j in mine)
    assert len({j.name for j in planned}) == 54 and len({j.run_id for j in planned}) == 54
    assert len({j.temp_config for j in planned}) == 27  # shared by the model types
    first = planned[0]
    assert first.name == "rus-pol-sentiment-normal-polish+russian-to-polish+russian-001"
    # the permutation's config is finetune-exp's LAST config
    assert first.args[:3] == (*files, first.temp_config) and first.args[3] == "--model-type"


def test_grid_languages_by_name(study, tmp_path):
    files, st = study
    cfg = st.cfg
    path = tmp_path / "g.json"
    path.write_text('{"parameters": {"learning_rate": [1e-3, 1e-4]}, '
                    '"languages": {"train": "russian", "eval": ["polish", "russian"]}}')
    grid = loader.load_grid_config(str(path), cfg)
    planned = jobs.plan_grid_jobs(st, files, grid, ["ipa"], str(tmp_path))
    assert [(j.train_langs, j.eval_langs) for j in planned] == [(("russian",), ("polish", "russian"))] * 2


def test_grid_run_id_matches_what_finetune_exp_will_load(tiny_study, tmp_path):
    """The planner predicts the run dir; finetune-exp loads the configs + the temp config: same id."""
    files = [tiny_study()]
    st = load_study(files)
    grid = loader.load_grid_config(GRID, st.cfg)
    job = jobs.plan_grid_jobs(st, files, grid, ["ipa"], str(tmp_path / "t"))[13]
    write_json_atomic(job.temp_config, jobs.hyperparameter_config(job.hyperparameters))
    loaded = load_study([*files, job.temp_config])
    plan = experiment.plan_run(loaded, "ipa", list(job.train_langs), list(job.eval_langs))
    assert (plan.run_id, plan.run_dir, plan.inputs) == (job.run_id, job.run_dir, job.inputs)
    assert loaded.hyperparameters["batch_size"] == job.hyperparameters["batch_size"]


def test_grid_permutations_order_and_scalars():
    perms = jobs.grid_permutations({"a": [1, 2], "b": 7, "c": ["x", "y"]})
    assert perms == [{"a": 1, "b": 7, "c": "x"}, {"a": 1, "b": 7, "c": "y"},
                     {"a": 2, "b": 7, "c": "x"}, {"a": 2, "b": 7, "c": "y"}]


def render_first(study, kind, tmp_path):
    files, st = study
    cfg = st.cfg
    if kind == "grid":
        grid = loader.load_grid_config(GRID, cfg)
        job = jobs.plan_grid_jobs(st, files, grid, ["ipa"], "/srv/ipa finetune/jobs/temp-configs")[0]
        name = "grid-search-fine-tune-template.sh"
    else:
        job = jobs.plan_transfer_jobs(st, files, ["ipa"])[0]
        name = "finetune-template.sh"
    template = templates.load_template(os.path.join(TEMPLATES, name))
    return job, template, templates.job_fields(packing.make_pack([job]), cfg, SETTINGS), name


def check_golden(name, got):
    """`got` equals tests/golden/<name> (UPDATE_GOLDEN=1 rewrites the file)."""
    golden = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", encoding="utf-8") as f:
            f.write(got)
    with open(golden, encoding="utf-8") as f:
        assert got == f.read(), f"{name} differs from {golden} (UPDATE_GOLDEN=1 rewrites it)"


def machine_independent(text, tmp_path, job):
    """Paths of this machine and the run id (a hash over default.json's values) as placeholders."""
    return (text.replace(PROJECT_ROOT, "<project>").replace(str(tmp_path), "<tmp>")
            .replace(job.run_id, "<run_id>"))


@pytest.mark.parametrize("kind", ["transfer", "grid"])
def test_rendered_scripts_match_golden_files(study, tmp_path, kind):
    job, template, fields, name = render_first(study, kind, tmp_path)
    templates.check_fields(template, name, [fields])
    got = machine_independent(templates.render(template, fields), tmp_path, job)
    check_golden(name, got)
    assert "${SLURM_CPUS_PER_TASK:-8}" in got and "{" not in got.replace("${", "")
    subprocess.run(["bash", "-n"], input=got, text=True, check=True)  # valid shell


@pytest.mark.parametrize("kind", ["transfer", "grid"])
def test_shipped_templates_use_only_fields_the_renderer_provides(study, tmp_path, kind):
    job, template, fields, name = render_first(study, kind, tmp_path)
    used = templates.template_fields(template)
    assert set(REQUIRED_TEMPLATE_FIELDS) <= set(used)
    assert set(used) <= set(fields)
    assert ("temp_config_name" in used) == (kind == "grid")


def test_args_survive_the_shell_with_spaces_and_quotes(study, tmp_path):
    files, st = study
    cfg = st.cfg
    odd = tmp_path / "dir with space's" / "my config.json"
    odd.parent.mkdir()
    job = jobs.plan_transfer_jobs(st, [*files, str(odd)], ["ipa"])[0]
    fields = templates.job_fields(packing.make_pack([job]), cfg, SETTINGS)
    script = templates.render("printf '%s\\n' {args}\n", fields)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == list(job.args)
    assert shlex.split(fields["log"]) == [log_path(SETTINGS.output_dir, job.name)]


def test_missing_fields_give_one_error_listing_all_of_them(study, tmp_path):
    files, st = study
    cfg = dict(st.cfg, slurm=dict(st.cfg["slurm"], fields={"partition": "gpu"}))
    job = jobs.plan_transfer_jobs(st, files, ["ipa"])[0]
    template = ("#SBATCH --job-name={job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                "#SBATCH --partition={partition} --qos={qos}\nrun {args} {temp_config_name}\n")
    with pytest.raises(templates.TemplateError) as info:
        templates.check_fields(template, "my.sh", [templates.job_fields(packing.make_pack([job]), cfg, SETTINGS)])
    msg = str(info.value)
    assert "\n" not in msg and "my.sh" in msg
    assert "qos, temp_config_name" in msg and "partition" not in msg.split(";")[0]  # set in the config
    assert 'set qos in a config file: "slurm": {"fields": {"qos": ...}}' in msg
    assert "temp_config_name is only set by grid-search.py" in msg


def test_bad_template_syntax_and_reserved_fields(study, tmp_path):
    files, st = study
    with pytest.raises(templates.TemplateError, match=r"write \$\{\{SLURM_JOB_ID\}\}"):
        templates.template_fields("echo ${SLURM_JOB_ID}\n", "t.sh")
    with pytest.raises(templates.TemplateError, match="literal braces"):
        templates.template_fields("echo {job_name\n", "t.sh")
    with pytest.raises(templates.TemplateError, match="not a name"):
        templates.template_fields("echo {0}\n", "t.sh")
    (tmp_path / "x").mkdir()
    log_field = write_overlay(tmp_path / "x", slurm={"fields": {"log": "/x"}})
    with pytest.raises(ConfigError, match="slurm.fields.log is not allowed; the template field 'log' is "
                                          "set by the job generators for each job"):
        loader.load_config([*files, log_field])


def test_find_template_accepts_a_directory_or_a_file(tmp_path):
    assert templates.find_template("jobs/templates", "finetune-template.sh") == \
        os.path.join(TEMPLATES, "finetune-template.sh")
    assert templates.find_template(os.path.join(TEMPLATES, "finetune-template.sh"), "x.sh").endswith(
        "finetune-template.sh")
    with pytest.raises(templates.TemplateError, match="must hold finetune-template.sh"):
        templates.find_template(str(tmp_path), "finetune-template.sh")


def test_split_finished(study):
    files, st = study
    planned = jobs.plan_transfer_jobs(st, files, ["ipa"])
    write_json_atomic(runs.results_path(planned[2].run_dir), {"done": True})
    to_run, finished = jobs.split_finished(planned)
    assert finished == [planned[2]] and len(to_run) == 5
    assert jobs.split_finished(planned, force=True) == (planned, [])


# ----------------------------------------------------------------------------- job arrays

def array_of(study, kind, count=3, limit=2, config_files=None, root="/srv/ipa finetune", settings=SETTINGS):
    """The first `count` runs of the shipped study's grid or transfer plan as one array chunk (job
    list and grid configs under `root`; settings.runs_per_job runs per task), its rendered script,
    and the template's name."""
    files, st = study
    files = config_files or files
    if kind == "grid":
        grid = loader.load_grid_config(GRID, st.cfg)
        planned = jobs.plan_grid_jobs(st, files, grid, ["ipa"], os.path.join(root, "jobs", "temp-configs"))
        name = "grid-search-fine-tune-template.sh"
    else:
        planned = jobs.plan_transfer_jobs(st, files, ["ipa"])
        name = "finetune-template.sh"
    out = os.path.join(root, "jobs", "rus-pol")
    (chunk,) = arrays.plan_chunks(planned[:count], {}, out, st.name, max_tasks=1000, settings=settings)
    template = templates.load_template(os.path.join(TEMPLATES, name))
    fields = arrays.array_fields(templates.job_fields(chunk.tasks[0][1], st.cfg, settings), chunk,
                                 settings.output_dir, settings, limit)
    templates.check_fields(template, name, [fields])
    return chunk, templates.render(template, fields), name


def array_independent(text, tmp_path, chunk):
    """machine_independent for an array: every task's run id, and the job list's content hash."""
    text = text.replace(PROJECT_ROOT, "<project>").replace(str(tmp_path), "<tmp>")
    for k, (_, p) in enumerate(chunk.tasks):
        text = text.replace(p.runs[0].run_id, f"<run_id_{k}>")
    return text.replace(os.path.basename(chunk.job_list).rsplit("-", 1)[1], "<hash>.jobs")


@pytest.mark.parametrize("kind", ["transfer", "grid"])
def test_rendered_array_scripts_and_job_list_match_golden_files(study, tmp_path, kind):
    chunk, script, name = array_of(study, kind)
    got = array_independent(script, tmp_path, chunk)
    check_golden(name.replace(".sh", ".array.sh"), got)
    assert "#SBATCH --array=0-2%2" in got and "logs/rus-pol-sentiment-" in got and "-%A_%a.out" in got
    assert "#SBATCH --partition=gpu" in got                     # slurm.options, in arrays too
    assert 'exec /opt/py\\ env/bin/python' not in got         # python quoted once, as for one job
    assert 'finetune-exp.py "${TASK_ARGS[@]}" --cpus' in got    # the exec stays: signals reach python
    assert ("cat \"${TASK_TEMP_CONFIGS[@]}\"" in got) == (kind == "grid")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    if kind == "grid":  # one job list golden file: the grid's (it has the grid config column)
        check_golden("grid-search.jobs", array_independent(arrays.job_list_text(chunk), tmp_path, chunk))


@pytest.mark.parametrize("kind,k", [("transfer", 1), ("grid", 1), ("transfer", 2), ("grid", 2)])
def test_shipped_array_script_runs_each_task_with_its_own_words(study, tmp_path, kind, k):
    """The shipped templates' array script, run by bash as Slurm runs task i (python replaced by
    printf): every task gets exactly its runs' arguments (k runs per task: separated by --then), also
    paths with spaces, quotes, $ and *; its per-run fields hold one word per run."""
    files, st = study
    odd = tmp_path / "it's a \"dir\" $HOME `x` *" / "my config.json"
    odd.parent.mkdir()
    project = tmp_path / "project dir"
    project.mkdir()
    settings = jobs.Settings(cpus=1, gpus=0, timeout="1", output_dir=str(tmp_path / "out"),
                             python="printf", project_dir=str(project), runs_per_job=k)
    chunk, _, name = array_of(study, kind, config_files=[*files, str(odd)], root=str(tmp_path / "a root"),
                              settings=settings)
    assert [len(p.runs) for _, p in chunk.tasks] == ([1, 1, 1] if k == 1 else [2, 1])
    os.makedirs(os.path.dirname(chunk.job_list))
    template = templates.load_template(os.path.join(TEMPLATES, name))
    fields = arrays.array_fields(templates.job_fields(chunk.tasks[0][1], st.cfg, settings), chunk,
                                 settings.output_dir, settings)
    assert fields["timeout"] == ("1" if k == 1 else "00:02:00")  # k runs x the limit per run
    fields["python"] = "printf '%s\\n'"   # exec printf '%s\n' finetune-exp.py ARGS --cpus N
    script = tmp_path / "array.sh"
    script.write_text(templates.render(template, fields).replace(
        'echo "job ', 'printf "dir:%s\\n" "${TASK_RUN_DIRS[@]}"\necho "job '))
    with open(chunk.job_list, "w", encoding="utf-8") as f:
        f.write(arrays.job_list_text(chunk))
    for index, p in chunk.tasks:
        for job in p.runs:
            if job.temp_config:
                os.makedirs(os.path.dirname(job.temp_config), exist_ok=True)
                write_json_atomic(job.temp_config, {"hyperparameters": job.hyperparameters})
        out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True,
                             env=dict(os.environ, SLURM_ARRAY_TASK_ID=str(index), SLURM_ARRAY_JOB_ID="7"))
        words = out.stdout.splitlines()
        start = words.index("finetune-exp.py")
        assert words[start + 1:] == [*p.args(), "--cpus", "1"], out.stdout
        assert p.args() == [w for job in p.runs for w in ("--then", *job.args)][1:]
        assert f"array task 7_{index}: line {index + 1} of" in out.stdout
        assert f"runs: {' '.join(job.run_id for job in p.runs)}" in out.stdout
        assert [w[4:] for w in words if w.startswith("dir:")] == [job.run_dir for job in p.runs]
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env=dict(os.environ, SLURM_ARRAY_TASK_ID="9"))
    assert proc.returncode == 2 and "array task 9: no line 10 in" in proc.stderr
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "SLURM_ARRAY_TASK_ID"})
    assert proc.returncode != 0 and "SLURM_ARRAY_TASK_ID: is not set: submit this script with sbatch" in proc.stderr


def test_array_spec_ranges_and_throttle():
    assert arrays.array_spec(range(10), 2) == "0-9%2"
    assert arrays.array_spec([12, 3, 7]) == "3,7,12"
    assert arrays.array_spec([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"
    assert arrays.max_tasks_per_array(5) == 4 and arrays.max_tasks_per_array(None) == 1000
    with pytest.raises(UserError, match="job arrays turned off .*--no-array"):
        arrays.max_tasks_per_array(0)


def test_chunks_hold_at_most_max_tasks_and_reruns_reuse_their_list(study, tmp_path):
    files, st = study
    planned = jobs.plan_transfer_jobs(st, files, ["normal", "ipa"])   # 12 runs
    chunks = arrays.plan_chunks(planned[:10], {}, str(tmp_path), st.name, max_tasks=4, settings=SETTINGS)
    assert [len(c.tasks) for c in chunks] == [4, 4, 2]
    assert [c.indices for c in chunks] == [[0, 1, 2, 3]] * 2 + [[0, 1]]
    assert len({c.job_list for c in chunks}) == 3 and all(c.script.endswith(".sh") for c in chunks)
    assert chunks[0].job_name == "rus-pol-sentiment-transfer"
    lists = {c.job_list: list(c.lines) for c in chunks}
    run = lambda chunk, i: chunk.tasks[i][1].runs[0]  # noqa: E731 (one run per task here)
    # a re-run: tasks 1 and 3 of the first list and 0 of the last ran as arrays 5 and 6; the two
    # last runs never ran; a run whose line changed since (here: --force) goes into a new list too
    first, last = chunks[0], chunks[2]
    latest = {run(first, 1).run_id: {"array_job_id": "5", "job_list": first.job_list, "array_index": 1},
              run(first, 3).run_id: {"array_job_id": "5", "job_list": first.job_list, "array_index": 3},
              run(last, 0).run_id: {"array_job_id": "6", "job_list": last.job_list, "array_index": 0},
              run(first, 2).run_id: {"array_job_id": "5", "job_list": "/gone.jobs", "array_index": 2}}
    again = [run(first, 3), run(first, 1), run(last, 0), run(first, 2), *planned[10:]]
    rerun = arrays.plan_chunks(again, latest, str(tmp_path), st.name, 4, SETTINGS, read_list=lists.get)
    assert [(c.job_list, c.indices) for c in rerun[:2]] == [(first.job_list, [1, 3]), (last.job_list, [0])]
    assert rerun[0].lines == first.lines                     # the whole list: indices keep their line
    assert sorted(p.runs[0].run_id for _, p in rerun[2].tasks) == sorted(
        j.run_id for j in [run(first, 2), *planned[10:]])
    forced = jobs.plan_transfer_jobs(st, files, ["normal"], force=True)[1]
    assert forced.run_id == run(first, 1).run_id
    (new,) = arrays.plan_chunks([forced], latest, str(tmp_path), st.name, 4, SETTINGS, read_list=lists.get)
    assert new.job_list not in lists and new.indices == [0]


def test_packed_reruns_reuse_a_line_only_when_all_its_runs_run_again(study, tmp_path):
    """3 runs per job: a line whose runs all failed goes out again as its index; of a line with a
    finished run, only the runs without results are packed into a new list."""
    files, st = study
    packed = dataclasses.replace(SETTINGS, runs_per_job=3)
    planned = jobs.plan_transfer_jobs(st, files, ["normal"])   # 6 runs: 2 jobs of 3
    (chunk,) = arrays.plan_chunks(planned, {}, str(tmp_path), st.name, 1000, packed)
    assert [len(p.runs) for _, p in chunk.tasks] == [3, 3]
    assert [arrays.line_run_ids(line) for line in chunk.lines] == [p.run_ids for _, p in chunk.tasks]
    latest = {rid: {"array_job_id": "5", "job_list": chunk.job_list, "array_index": i}
              for i, (_, p) in enumerate(chunk.tasks) for rid in p.run_ids}
    whole, partly = chunk.tasks[0][1].runs, chunk.tasks[1][1].runs[1:]   # task 1's first run finished
    reused, fresh = arrays.plan_chunks([*whole, *partly], latest, str(tmp_path), st.name, 1000, packed,
                                       read_list={chunk.job_list: list(chunk.lines)}.get)
    assert (reused.job_list, reused.indices) == (chunk.job_list, [0])
    assert fresh.job_list != chunk.job_list and [p.runs for _, p in fresh.tasks] == [tuple(partly)]


def test_runs_per_job_auto_and_counts_within_the_partitions_time_limit():
    day = packing.JobLimit("gpu", 86400)
    assert packing.runs_per_job("auto", "00:20:00", 1, None) == 12      # 4 h of 20-minute runs
    assert packing.runs_per_job("auto", "04:00:00", 1, day) == 1
    assert packing.runs_per_job("auto", "00:20:00", 4, day) == 48      # 4 at once: 4 x 12
    assert packing.runs_per_job("auto", "10:00:00", 1, day) == 1
    assert packing.runs_per_job("auto", "06:00:00", 1, day, seeds=3) == 3       # a setting's seeds share
    assert packing.runs_per_job("auto", "10:00:00", 1, day, seeds=3) == 2       # ... within MaxTime
    assert packing.runs_per_job("auto", "06:00:00", 1, None, seeds=3) == 3
    assert packing.runs_per_job("auto", "00:20:00", 1, day, seeds=3) == 12
    assert packing.runs_per_job("auto", "01:00:00", 1, packing.JobLimit("short", 7200)) == 2
    assert packing.runs_per_job(6, "04:00:00", 1, day) == 6
    assert packing.runs_per_job(12, "04:00:00", 2, day) == 12           # 6 in turn x 4 h = 24 h
    with pytest.raises(UserError) as info:
        packing.runs_per_job(8, "04:00:00", 1, day)
    msg = str(info.value)
    assert "8 runs per job (slurm.runs_per_job or --runs-per-job) x 04:00:00 per run asks for 1-08:00:00 per job" in msg and "partition gpu (MaxTime 1-00:00:00" in msg
    assert "use at most 6 runs per job" in msg and "\n" not in msg
    with pytest.raises(UserError, match=r"the time limit per run, 1-02:00:00 .* is longer than partition gpu"):
        packing.runs_per_job("auto", "1-02:00:00", 1, day)
    assert packing.runs_per_job(100, "1-02:00:00", 1, packing.JobLimit("local", None)) == 100


def test_pack_keeps_runs_that_share_inputs_together_in_even_jobs(study):
    files, st = study
    planned = jobs.plan_transfer_jobs(st, files, ["normal", "ipa"], seeds=[1, 2])   # 24 runs
    packs = packing.pack(planned, 12)
    assert [len(p.runs) for p in packs] == [12, 12]
    assert [{r.model_type for r in p.runs} for p in packs] == [{"normal"}, {"ipa"}]   # as planned
    assert [len(p.runs) for p in packing.pack(planned, 10)] == [8, 8, 8]   # 3 jobs, even
    assert [len(p.runs) for p in packing.pack(planned, 1)] == [1] * 24
    first = packs[0].runs
    assert first[0].seed == 1 and first[1].seed == 2 and first[0].train_langs == first[1].train_langs
    assert packs[0].name == f"{first[0].name}-and-11-more" and packing.make_pack(first[:1]).name == first[0].name
    fields = templates.job_fields(packs[0], st.cfg, SETTINGS)
    assert fields["timeout"] == "3-00:00:00" and fields["model_type"] == "normal"      # 12 x 6 h
    assert fields["run_id"].split() == [r.run_id for r in first]
    assert shlex.split(fields["args"]) == packs[0].args() and shlex.split(fields["args"]).count("--then") == 11
    assert packs[0].args(runs_at_once=4)[-2:] == ["--runs-at-once", "4"]


def test_template_checks_name_the_field_and_the_fix(study, tmp_path):
    files, st = study
    cfg = st.cfg
    old = "#!/bin/bash\n#SBATCH -J {job_name} -c {cpus} --gpus={gpus} -t {timeout}\n{python} x.py {args}\n"
    with pytest.raises(templates.TemplateError, match=r"has no \{sbatch_options\} field, so the config's "
                       r"slurm.options \(partition, account, mem\) would be dropped: add a line"):
        templates.check_template_uses(old, "old.sh", cfg, array=False)
    bare = dict(cfg, slurm=dict(cfg["slurm"], options={}))
    templates.check_template_uses(old, "old.sh", bare, array=False)   # the old contract still works
    with pytest.raises(templates.TemplateError, match=r"old.sh cannot run as a job array: it lacks "
                       r"\{array\} and \{array_task\}.*or pass --no-array"):
        templates.check_template_uses(old, "old.sh", bare, array=True)
    with_fields = dict(bare, slurm=dict(bare["slurm"], fields={"partition": "gpu"}))
    with pytest.raises(templates.TemplateError, match=r"does not use slurm.fields partition: use "
                       r"slurm.options for #SBATCH options .* or add \{partition\} to your template"):
        templates.check_template_uses(old, "old.sh", with_fields, array=False)


def test_empty_field_lines_are_left_out_and_options_render_as_sbatch_lines():
    text = "#!/bin/bash\n#SBATCH -J x\n{sbatch_options}\n  {array}\nset -e\n{{not_a_field}}\necho {array}.\n"
    assert templates.render(text, {"sbatch_options": "", "array": ""}) == \
        "#!/bin/bash\n#SBATCH -J x\nset -e\n{not_a_field}\necho .\n"
    lines = templates.sbatch_lines({"partition": "gpu", "exclusive": True, "requeue": False, "nodes": 1})
    assert lines == "#SBATCH --partition=gpu\n#SBATCH --exclusive\n#SBATCH --nodes=1"
    assert templates.report_job_options({"partition": "gpu", "account": "lab", "mem": "32G",
                                       "exclusive": True}) == ["--partition=gpu", "--account=lab"]


def test_a_line_break_in_a_path_cannot_go_into_a_job_list(study, tmp_path):
    files, st = study
    job = jobs.plan_transfer_jobs(st, [*files, str(tmp_path / "a\nb.json")], ["ipa"])[0]
    with pytest.raises(UserError, match="holds a line break.*pass --no-array"):
        arrays.job_list_line(packing.make_pack([job]))
