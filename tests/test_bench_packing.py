"""bench/bench_study.py and bench/bench_gpu_share.py: one smoke run each at the tiny size (the figures
are not checked, only that each benchmark runs end to end and reports every one of them)."""
import json
import os

import pytest

from ipa_finetune.files import PROJECT_ROOT
from test_bench import run_bench

pytestmark = pytest.mark.slow


def test_study_benchmark_runs_both_modes_and_compares_every_runs_numbers(tmp_path):
    script = os.path.join(PROJECT_ROOT, "bench", "bench_study.py")
    proc = run_bench("--tiny", "--where", "local", "--out", str(tmp_path / "out"), "--json",
                     str(tmp_path / "s.json"), cwd=tmp_path, script=script)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((tmp_path / "s.json").read_text())
    one, packed = res["modes"]
    assert (one["mode"], one["jobs"], packed["mode"], packed["jobs"]) == ("one run per job", 2, "packed", 1)
    assert one["finished"] == packed["finished"] == res["runs"] == res["identical"] == 2
    assert res["ratio"] == one["wall_s"] / packed["wall_s"] > 0 and res["where"] == "local"
    text = proc.stdout
    for line in ("| one run per job | 2 | 2/2 | ", "| packed | 1 | 2/2 | ", "ratio (one run per job / packed): ",
                 "metrics and history identical in both modes: 2 of 2 runs",
                 "packed: runs per job: 12 (auto; 00:20:00 per run, 1 at once; --local: no time limit)"):
        assert line in text, text


def test_gpu_share_benchmark_prints_a_row_per_count_of_runs_at_once(tmp_path):
    script = os.path.join(PROJECT_ROOT, "bench", "bench_gpu_share.py")
    proc = run_bench("--tiny", "--runs", "2", "--at-once", "1", "2", "--out", str(tmp_path / "out"),
                     "--json", str(tmp_path / "g.json"), cwd=tmp_path, script=script)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((tmp_path / "g.json").read_text())
    assert [r["at_once"] for r in res["rows"]] == [1, 2] and all(r["runs_per_hour"] > 0 for r in res["rows"])
    assert res["device"] == "cpu (no GPU)" or res["device"].startswith("cuda:")
    assert "| runs at once | wall time | runs/hour | vs first row |" in proc.stdout
    assert "| 2 | " in proc.stdout and "x | " in proc.stdout
