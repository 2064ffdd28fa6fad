"""The docs hold together: the README fits on a few screens, every relative link and #anchor of
README.md and docs/*.md resolves, and every flag of every script and every key of config/default.json
is documented in its guide (docs/testing.md, "The docs commands test")."""
import glob
import json
import os
import re
import subprocess
import sys

import json5
import pytest

from ipa_finetune.files import PROJECT_ROOT

README = os.path.join(PROJECT_ROOT, "README.md")
PAGES = [README] + sorted(glob.glob(os.path.join(PROJECT_ROOT, "docs", "*.md")))
README_MAX_LINES = 250
# Each script's flags are documented in its guide (the script's home in the README's table).
SCRIPT_GUIDES = {
    "prepare-data.py": "preparing-data.md", "finetune-exp.py": "finetune.md", "grid-search.py": "slurm.md",
    "finetuning-generator.py": "slurm.md", "collect-results.py": "report.md", "demo/run_demo.py": "demo.md",
    "demo/build_demo.py": "demo.md", "bench/bench_throughput.py": "performance.md",
    "bench/bench_prepare.py": "performance.md", "bench/bench_study.py": "performance.md",
    "bench/bench_gpu_share.py": "performance.md", "bench/bench_statistics.py": "statistics.md",
}
# Keys whose value is a free-form map: the key itself is documented, not the user's entries.
FREE_MAPS = ("languages", "model_types", "slurm.options", "slurm.fields")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def without_code(text):
    """The Markdown outside fenced code blocks (a link inside one is an example, not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def anchors(path):
    """GitHub's heading anchors of a Markdown file, plus explicit <a id="..."> ones."""
    text = without_code(read(path))
    found = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = heading.strip().lower().replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", slug).replace(" ", "-")
        found.add(slug)
    return found


def relative_links(path):
    """(target, anchor) of every relative link of a page (http(s) and mailto links are left out)."""
    for target in LINK.findall(without_code(read(path))):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        yield file, anchor


def test_readme_fits_on_a_few_screens():
    lines = len(read(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move details into a guide under docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, PROJECT_ROOT))
def test_every_relative_link_and_anchor_resolves(page):
    broken = []
    for file, anchor in relative_links(page):
        target = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
        if not os.path.exists(target):
            broken.append(f"{file}: no such file")
        elif anchor and target.endswith(".md") and anchor not in anchors(target):
            broken.append(f"{file}#{anchor}: no such heading in {os.path.relpath(target, PROJECT_ROOT)}")
    assert broken == []


def test_the_link_check_sees_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## `--dry-run` and `--local`\n\n[a](#title) [b](#no-such) [c](missing.md)"
                    " [d](#--dry-run-and---local) [e](https://example.org/x)\n```\n[f](inside-code.md)\n```\n")
    assert anchors(str(page)) == {"title", "--dry-run-and---local"}
    assert list(relative_links(str(page))) == [("", "title"), ("", "no-such"), ("missing.md", ""),
                                               ("", "--dry-run-and---local")]


def help_flags(script):
    proc = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, script), "--help"], capture_output=True,
                          text=True, timeout=120, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("options:", 1)[1]
    return sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", options)) - {"--help"})


@pytest.mark.parametrize("script", sorted(SCRIPT_GUIDES))
def test_every_flag_of_a_script_is_in_its_guide(script):
    guide = read(os.path.join(PROJECT_ROOT, "docs", SCRIPT_GUIDES[script]))
    flags = help_flags(script)
    assert flags, f"{script} --help lists no flags"
    missing = [f for f in flags if not re.search(re.escape(f) + r"(?![a-z0-9-])", guide)]
    assert missing == [], f"flags of {script} not in docs/{SCRIPT_GUIDES[script]}"


def config_keys(tree, prefix=""):
    """Dotted keys of a config: every leaf, and a free-form map as itself."""
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in FREE_MAPS:
            yield from config_keys(value, dotted + ".")
        else:
            yield dotted


def test_every_key_of_default_json_is_in_the_configs_guide():
    with open(os.path.join(PROJECT_ROOT, "config", "default.json"), encoding="utf-8") as f:
        keys = list(config_keys(json5.load(f)))
    guide = read(os.path.join(PROJECT_ROOT, "docs", "configs.md"))
    assert len(keys) > 30 and "hyperparameters.selection" in keys
    assert [k for k in keys if f"`{k}`" not in guide] == []


def test_every_database_and_model_type_key_is_in_the_configs_guide():
    from ipa_finetune.config import schema

    guide = read(os.path.join(PROJECT_ROOT, "docs", "configs.md"))
    keys = (*schema.ENTRY_REQUIRED, *schema.ENTRY_OPTIONAL, *schema.MODEL_TYPE_KEYS, *schema.JOB_TEMPLATE_FIELDS,
            "project_dir", "python")
    assert [k for k in keys if f"`{k}`" not in guide] == []
    assert json.dumps(sorted(schema.IPA_KEYS)) == '["columns", "epitran"]'
    assert all(f'"{k}"' in read(os.path.join(PROJECT_ROOT, "docs", "preparing-data.md")) for k in schema.IPA_KEYS)
