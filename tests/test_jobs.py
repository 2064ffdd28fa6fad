"""Job planning and template rendering (ipa_finetune.jobs): pure functions, no Slurm needed."""
import os
import shlex
import subprocess

import pytest

from conftest import write_overlay
from ipa_finetune import runs
from ipa_finetune.cli import PROJECT_ROOT
from ipa_finetune.config import loader
from ipa_finetune.config.schema import REQUIRED_TEMPLATE_FIELDS
from ipa_finetune.config.study import load_study
from ipa_finetune.errors import ConfigError
from ipa_finetune.files import write_json_atomic
from ipa_finetune.launch import jobs, templates
from ipa_finetune.launch.manifest import log_path
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
    return job, template, templates.job_fields(job, cfg, SETTINGS), name


def machine_independent(text, tmp_path, job):
    """Paths of this machine and the run id (a hash over default.json's values) as placeholders."""
    return (text.replace(PROJECT_ROOT, "<project>").replace(str(tmp_path), "<tmp>")
            .replace(job.run_id, "<run_id>"))


@pytest.mark.parametrize("kind", ["transfer", "grid"])
def test_rendered_scripts_match_golden_files(study, tmp_path, kind):
    job, template, fields, name = render_first(study, kind, tmp_path)
    templates.check_fields(template, name, [fields])
    got = machine_independent(templates.render(template, fields), tmp_path, job)
    golden = os.path.join(GOLDEN, name)
    if os.environ.get("UPDATE_GOLDEN"):
        with open(golden, "w", encoding="utf-8") as f:
            f.write(got)
    with open(golden, encoding="utf-8") as f:
        assert got == f.read(), f"rendered {name} differs from {golden} (UPDATE_GOLDEN=1 rewrites it)"
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
    fields = templates.job_fields(job, cfg, SETTINGS)
    script = templates.render("printf '%s\\n' {args}\n", fields)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == list(job.args)
    assert shlex.split(fields["log"]) == [log_path(SETTINGS.output_dir, job.name)]


def test_missing_fields_give_one_error_listing_all_of_them(study, tmp_path):
    files, st = study
    cfg = st.cfg
    job = jobs.plan_transfer_jobs(st, files, ["ipa"])[0]
    template = ("#SBATCH --job-name={job_name} -c {cpus} --gpus={gpus} -t {timeout}\n"
                "#SBATCH --partition={partition} --qos={qos}\nrun {args} {temp_config_name}\n")
    with pytest.raises(templates.TemplateError) as info:
        templates.check_fields(template, "my.sh", [templates.job_fields(job, cfg, SETTINGS)])
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
