"""What `make demo` ends with, on synthetic results (the demo itself takes minutes; a synthetic run's
accuracy is its f1 + 0.1): the baseline check averaged over seeds, then the report's `ipa - normal`
block with mean ± std (n >= 2), the interval, the p-values and the marks, after the headline."""
import importlib.util
import os

from conftest import run_script
from test_uncertainty import CLASSES, LABELS, study_with_predictions
from ipa_finetune.files import PROJECT_ROOT
from ipa_finetune.config.loader import load_config


def load_run_demo():
    spec = importlib.util.spec_from_file_location("run_demo", os.path.join(PROJECT_ROOT, "demo", "run_demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_runs_replicates():
    seeds = load_config([os.path.join(PROJECT_ROOT, "config", "demo.json")])["hyperparameters"]["seed"]
    assert isinstance(seeds, list) and len(seeds) >= 2


def test_the_demo_ends_with_the_answer(tmp_path, capsys):
    wrong = [(y + 1) % CLASSES for y in LABELS]
    res = study_with_predictions(tmp_path, LABELS, wrong, LABELS)
    p = run_script("collect-results.py", res, "--out", tmp_path / "report", "--no-plots", timeout=120)
    assert p.returncode == 0, p.stderr
    demo = load_run_demo()
    assert demo.baseline_check(res) == (2, 4)  # ipa's two runs beat the majority baseline, normal's not
    block = demo.difference_blocks(str(tmp_path / "report" / "report.md"))
    assert block[0].startswith("**Numbers from the test split.**") and block[2] == "### ipa - normal"
    assert "| train → eval | ipa | normal | difference | 95% CI | p | p (Holm) | q (BH) | mark |" in block
    assert "| polish → polish | 1.000 ± 0.000 (n=2) | 0.000 ± 0.000 (n=2) | +1.000 | [+1.000, +1.000] | <0.001 | " \
        "<0.001 | <0.001 | * |" in block
    assert any(line.startswith("**ipa beats normal in 1 of 1 cells after Holm") for line in block)
    out = capsys.readouterr().out
    assert "ipa     polish          -> polish   accuracy 1.100 ± 0.000" in out and "(n=2)" in out
