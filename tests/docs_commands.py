"""The shell commands the docs show: collect them, build a copy of the project to run them in, run them.

Collected (docs/testing.md, "The docs commands test"):
- every command of the fenced ```bash blocks of README.md and docs/*.md: a line, with the lines its
  trailing backslashes continue onto; blank and comment-only lines are not commands;
- the example commands in the header comment of each config/*.json: the `//` lines before the first
  `{` whose text starts with `python ` or `make `.
A command that cannot run here ends with `# not run here: <why>`; it is collected, listed, not run.

    python tests/docs_commands.py        # every collected command, and the ones not run

Commands run in a copy of the project (make_project), never in the repository: relative config paths
resolve against the project folder, so everything they write lands in the copy.
"""
import csv
import dataclasses
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOT_RUN = re.compile(r"#\s*not run here:\s*(.*?)\s*$")
FENCE = re.compile(r"^\s*```+\s*(\S*)")
HEADER_COMMAND = re.compile(r"^\s*//\s*((?:python|make) .*)$")
COMMAND_TIMEOUT = 300  # s; the docs promise short commands, this only stops a hang

# What a copy of the project holds (the tests too: the docs run `make test PYTEST_ARGS=...`).
PROJECT_PARTS = ("README.md", "Makefile", "requirements.txt", "pytest.ini", ".ci", "docs", "config",
                 "jobs/templates", "demo", "bench", "scripts", "ipa_finetune", "tests")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sha256.json", "out", ".pytest_cache")


@dataclasses.dataclass(frozen=True)
class Command:
    page: str       # e.g. "README.md", "docs/slurm.md", "config/demo.json"
    line: int       # 1-based line of the command's first line
    text: str       # as bash reads it (continuation lines joined by backslash-newline)

    @property
    def not_run(self):
        """The reason given by a `# not run here: ...` comment, or None."""
        match = NOT_RUN.search(self.text)
        return (match.group(1) or "(no reason given)") if match else None

    def __str__(self):
        return f"{self.page}:{self.line}: {self.text}"


def bash_block_commands(text, page):
    """The commands of the ```bash blocks of one Markdown page, in order."""
    commands, in_bash, fence_open, pending, start = [], False, False, [], 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = FENCE.match(line)
        if fence:
            fence_open = not fence_open
            in_bash = fence_open and fence.group(1) == "bash"
            continue
        if not in_bash:
            continue
        if not pending:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            start = number
        pending.append(line.rstrip())
        if not line.rstrip().endswith("\\"):
            commands.append(Command(page, start, "\n".join(pending)))
            pending = []
    return commands


def config_header_commands(text, page):
    """The example commands of a config file's leading comment (before its first `{`)."""
    commands = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("{"):
            break
        match = HEADER_COMMAND.match(line)
        if match:
            commands.append(Command(page, number, match.group(1).strip()))
    return commands


def collect(root=ROOT):
    """{page: [Command, ...]} for README.md, docs/*.md and config/*.json under `root` (pages with no
    command are left out)."""
    pages = {}
    for path in [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        page = os.path.relpath(path, root)
        pages[page] = bash_block_commands(open(path, encoding="utf-8").read(), page)
    for path in sorted(glob.glob(os.path.join(root, "config", "*.json"))):
        page = os.path.relpath(path, root)
        pages[page] = config_header_commands(open(path, encoding="utf-8").read(), page)
    return {page: commands for page, commands in pages.items() if commands}


def not_run(pages):
    return [c for commands in pages.values() for c in commands if c.not_run]


# ----------------------------------------------------------------------------- the project copy

def make_project(dest, prepared=True):
    """A copy of the project at `dest` in which the shipped real study can run on stand-ins of its
    inputs, built from the demo: raw RuSentiment CSVs and KLEJ TSVs, the demo's checkpoints and
    tokenizers under the names config/finetune-rus-pol-sentiment.json gives them, and (prepared=True)
    the two prepared dataset folders. `.venv` points at this Python's environment."""
    os.makedirs(dest)
    for part in PROJECT_PARTS:
        src, out = os.path.join(ROOT, part), os.path.join(dest, part)
        if os.path.isdir(src):
            shutil.copytree(src, out, ignore=IGNORED)
        elif os.path.exists(src):
            shutil.copy2(src, out)
    for script in glob.glob(os.path.join(ROOT, "*.py")):
        shutil.copy2(script, dest)
    link_venv(os.path.join(dest, ".venv"))
    for model_type in ("normal", "ipa"):
        name = f"rus-pol-{model_type}"
        copy(f"demo/checkpoints/{model_type}/ckpt.pt", dest, f"checkpoints/rus-pol/{name}/ckpt.pt")
        for part in ("vocab.json", "merges.txt"):
            copy(f"demo/tokenizers/{model_type}-{part}", dest, f"tokenizers/rus-pol/{name}-{part}")
    write_raw_files(dest)
    if prepared:
        write_prepared_data(dest)
    return dest


def copy(src, dest_root, rel):
    out = os.path.join(dest_root, rel)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    shutil.copy(os.path.join(ROOT, src), out)


def link_venv(venv):
    """A `.venv` of links into this interpreter's environment, with a fresh install stamp, so that
    the copy's Makefile sees an up-to-date venv and never installs into the shared one."""
    os.makedirs(venv)
    for name in os.listdir(sys.prefix):
        if name != ".installed":
            os.symlink(os.path.join(sys.prefix, name), os.path.join(venv, name))
    open(os.path.join(venv, ".installed"), "w").close()


def demo_rows(language, split):
    with open(os.path.join(ROOT, "demo", "data", language, f"{split}.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


KLEJ_LABELS = {"negative": "__label__meta_minus_m", "neutral": "__label__meta_zero",
               "positive": "__label__meta_plus_m"}


def write_raw_files(dest):
    """RuSentiment's three CSVs (label,text; with skip and speech posts) and KLEJ's PolEmo TSVs
    (sentence, target; with ambivalent reviews; test_features.tsv without labels), from demo/data."""
    ru = {split: [(r["label"], r["text"]) for r in demo_rows("russian", split)]
          for split in ("train", "validation", "test")}
    half = len(ru["train"]) // 2
    files = {"rusentiment_random_posts.csv": ru["train"][:half] + [("skip", "ммм"), ("skip", "???")],
             "rusentiment_preselected_posts.csv": ru["train"][half:] + ru["validation"] + [("speech", "С днём рождения!")],
             "rusentiment_test.csv": ru["test"] + [("speech", "Спасибо всем!")]}
    folder = os.path.join(dest, "raw", "rusentiment")
    os.makedirs(folder)
    for name, rows in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["label", "text"])
            writer.writerows(rows)
    pl = {split: [(r["text"], KLEJ_LABELS[r["label"]]) for r in demo_rows("polish", split)]
          for split in ("train", "validation", "test")}
    amb = ("Film ma swoje wady i zalety, trudno powiedzieć.", "__label__meta_amb")
    folder = os.path.join(dest, "raw", "klej_polemo2.0-in")
    os.makedirs(folder)
    for name, rows in (("train.tsv", pl["train"] + pl["validation"] + [amb]), ("dev.tsv", pl["test"] + [amb])):
        write_tsv(os.path.join(folder, name), ["sentence", "target"], rows)
    write_tsv(os.path.join(folder, "test_features.tsv"), ["sentence"], [(s,) for s, _ in pl["test"]])


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in [header, *rows]:
            f.write("\t".join(row) + "\n")


def write_prepared_data(dest):
    """The folders prepare-data.py writes for the rusentiment and polemo2 entries, from demo/data."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = {"negative": 0, "neutral": 1, "positive": 2}
    for split in ("train", "validation", "test"):
        rows = demo_rows("russian", split)
        folder = os.path.join(dest, "data", "rusentiment")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, f"{split}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"text": r["text"], "ipa": r["ipa"], "label": ids[r["label"]]},
                                   ensure_ascii=False) + "\n")
        rows = demo_rows("polish", split)
        folder = os.path.join(dest, "data", "klej-polemo2-in")
        os.makedirs(folder, exist_ok=True)
        table = pa.table({"sentence": [r["text"] for r in rows], "sentence_ipa": [r["ipa"] for r in rows],
                          "target": pa.array([ids[r["label"]] for r in rows], pa.int64())})
        pq.write_table(table, os.path.join(folder, f"{split}.parquet"))


# ----------------------------------------------------------------------------- running

@dataclasses.dataclass
class Failure:
    command: Command
    returncode: int
    output: str

    def __str__(self):
        return f"{self.command}\n  exit {self.returncode}; the end of its output:\n{self.output[-3000:]}"


def command_env(project):
    """The environment the docs assume: the project's .venv first on PATH (`python` is its Python),
    offline, and not CI's demand for real-Slurm tests (a `make test` the docs show is not CI's run)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    env["PATH"] = os.path.join(project, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    for name in ("IPA_FINETUNE_REQUIRE_SLURM", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "PYTHONPATH"):
        env.pop(name, None)
    return env


def run_commands(commands, project, timeout=COMMAND_TIMEOUT):
    """Run each command not marked `not run here`, in order, with bash in `project`; stop at the
    first failure and return it ([] when every command exited 0)."""
    env = command_env(project)
    for command in commands:
        if command.not_run:
            continue
        try:
            proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command.text], cwd=project, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return [Failure(command, -1, f"timed out after {timeout} s\n{e.stdout or ''}{e.stderr or ''}")]
        if proc.returncode != 0:
            return [Failure(command, proc.returncode, proc.stdout + proc.stderr)]
    return []


def main():
    pages = collect()
    for page, commands in pages.items():
        print(f"{page}: {len(commands)} command(s)")
        for c in commands:
            print(f"  {c.line}: {' '.join(c.text.split())}")
    marked = not_run(pages)
    print(f"\nnot run here ({len(marked)}):")
    for c in marked:
        print(f"  {c.page}:{c.line}: {c.not_run}")


if __name__ == "__main__":
    main()
