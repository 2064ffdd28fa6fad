"""--help of every top-level script: it runs, shows the spec's flags, and every flag says what it is."""
import re

import pytest

from conftest import SCRIPTS, run_script

# The flags the spec's usage lines give (SPEC-finetuning-doc.md, "API").
SPEC_FLAGS = {
    "grid-search.py": ["--grid-config", "-t TEMPLATE, --template", "--output-dir", "--temp-config-dir",
                       "--model-type", "--timeout"],
    "finetuning-generator.py": ["--template", "--output-dir", "--timeout"],
}


def options_without_help(text):
    """Option lines of an argparse help with no description on the line or an indented line below."""
    lines = text.splitlines()
    bare = []
    for i, line in enumerate(lines):
        if not re.match(r"^  -", line):
            continue
        described = re.search(r"\S {2,}\S", line.strip())
        continued = i + 1 < len(lines) and re.match(r"^ {6,}\S", lines[i + 1]) and \
            not re.match(r"^  -", lines[i + 1])
        if not (described or continued):
            bare.append(line.strip())
    return bare


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_runs_and_every_flag_is_described(script):
    proc = run_script(script, "--help", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: {script}")
    assert options_without_help(proc.stdout) == []
    for flag in SPEC_FLAGS.get(script, ()):
        assert flag in proc.stdout, flag


def test_the_check_sees_a_flag_without_help():
    text = "options:\n  -h, --help  show this\n  --bare BARE\n  --long LONG\n        described below\n"
    assert options_without_help(text) == ["--bare BARE"]
