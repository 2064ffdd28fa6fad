"""Every command the docs show runs (tests/docs_commands.py collects them; docs/testing.md, "The docs
commands test"): the ```bash blocks of README.md and docs/*.md and the header examples of config/*.json,
each page in its own copy of the project, against the demo data. Commands marked `# not run here` are
listed and must stay few. The files the README's recipe writes must be documented, key by key."""
import csv
import glob
import json
import os
import re

import pytest

from docs_commands import Command, collect, make_project, not_run, run_commands

PAGES = collect()
MAX_NOT_RUN = 10  # commands marked `# not run here: ...` (a real cluster's sbatch, the suite itself)


def test_the_collector_finds_the_commands_of_every_kind_of_page():
    assert {"README.md", "docs/slurm.md", "docs/preparing-data.md", "config/demo.json"} <= set(PAGES)
    readme = [c.text for c in PAGES["README.md"]]
    assert "make demo" in " ".join(readme) and any("--dry-run" in c for c in readme)
    assert any(c.text.startswith("python prepare-data.py") and "\\\n" in c.text for c in PAGES["README.md"])
    # the spec's example of config/demo.json's header, as written (refactor: every listed seed runs)
    assert ("python finetune-exp.py config/demo.json --model-type ipa --train-langs russian --eval-langs polish"
            in [c.text for c in PAGES["config/demo.json"]])


def test_commands_not_run_here_are_few_and_say_why():
    marked = not_run(PAGES)
    listing = "\n".join(f"  {c.page}:{c.line}: {c.not_run}" for c in marked)
    print(f"commands not run here ({len(marked)}):\n{listing}")
    assert len(marked) <= MAX_NOT_RUN, f"more than {MAX_NOT_RUN} commands are not run here:\n{listing}"
    assert all(c.not_run != "(no reason given)" and len(c.not_run) > 10 for c in marked), listing


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_command_of_the_page_runs(page, tmp_path):
    project = make_project(str(tmp_path / "project"), prepared=page != "README.md")
    failures = run_commands(PAGES[page], project)
    assert not failures, "\n\n".join(map(str, failures))
    if page == "README.md":
        assert undocumented_outputs(project) == []


def test_a_broken_command_in_a_guide_fails(tmp_path):
    project = make_project(str(tmp_path / "project"))
    guide = os.path.join(project, "docs", "broken.md")
    with open(guide, "w", encoding="utf-8") as f:
        f.write("# A guide\n\n```bash\npython finetune-exp.py config/demo.json --print-config\n"
                "python finetune-exp.py config/demo.json --no-such-flag   # a typo in a guide\n"
                "python finetune-exp.py config/demo.json --help\n```\n")
    commands = collect(project)["docs/broken.md"]
    assert [c.line for c in commands] == [4, 5, 6]
    (failure,) = run_commands(commands, project)
    assert failure.command == commands[1] and failure.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in failure.output
    assert "docs/broken.md:5:" in str(failure)
    marked = Command("docs/broken.md", 5, commands[1].text + "  # not run here: a demonstration of the marker")
    assert run_commands([commands[0], marked, commands[2]], project) == []


def test_commands_write_into_the_copy_not_the_repository(tmp_path):
    """Relative paths of the configs resolve against the project folder: the copy's, for a command
    run in the copy."""
    project = make_project(str(tmp_path / "project"))
    command = Command("x", 1, "python finetune-exp.py config/demo.json --print-config > resolved.txt")
    assert run_commands([command], project) == []
    resolved = open(os.path.join(project, "resolved.txt"), encoding="utf-8").read()
    assert f'"results_dir": "{os.path.join(project, "results")}"' in resolved


# ----------------------------------------------------------------------------- output formats

def undocumented_outputs(project):
    """Keys of the files the README's recipe wrote (results.json, prepare.json, the report's CSVs)
    that their guide does not name in backticks."""
    missing = []

    def check(keys, guide, what):
        text = open(os.path.join(project, "docs", guide), encoding="utf-8").read()
        named = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(re.findall(r"`([^`]*)`", text))))
        missing.extend(f"{what}: {key} (not in docs/{guide})" for key in keys if key not in named)

    (results,) = glob.glob(os.path.join(project, "results", "*", "*", "results.json"))
    record = json.load(open(results, encoding="utf-8"))
    check(record, "runs-and-results.md", "results.json")
    for prepared in glob.glob(os.path.join(project, "data", "*", "prepare.json")):
        check(json.load(open(prepared, encoding="utf-8")), "preparing-data.md", "prepare.json")
    report = glob.glob(os.path.join(project, "results", "*", "report"))[0]
    for name in ("runs.csv", "differences.csv"):
        path = os.path.join(report, name)
        if os.path.exists(path):
            header = next(csv.reader(open(path, encoding="utf-8")))
            check([h for h in header if not h.startswith("hp_")], "report.md", name)
    return missing
