"""bench/bench_generation.py: one smoke run at a tiny size (the figures are not checked, only that the
benchmark runs end to end, reports every figure, and that the cache changes no token)."""
import json

import pytest

from tests.test_bench import PROJECT_ROOT, run_bench

SCRIPT = f"{PROJECT_ROOT}/bench/bench_generation.py"
VARIANTS = ("(a) nanoGPT, KV cache", "(b) nanoGPT, no cache", "(c) HF GPT-2, KV cache")


def test_tiny_run_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / "gen.json"
    proc = run_bench("--tiny", "--threads", "1", "--json", str(out), cwd=tmp_path, script=SCRIPT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split() for line in proc.stdout.splitlines() if line.strip()[:2] in ("4 ", "16")]
    assert [r[0] for r in rows] == ["4", "16"] and all(len(r) == 7 and r[-1] == "yes" for r in rows), proc.stdout
    res = json.loads(out.read_text())
    assert [r["new_tokens"] for r in res["results"]] == [4, 16]
    for r in res["results"]:
        speed = r["tokens_per_s"]
        assert list(speed) == list(VARIANTS) and min(speed.values()) > 0
        assert r["ratios"] == {"a/b": speed[VARIANTS[0]] / speed[VARIANTS[1]],
                               "a/c": speed[VARIANTS[0]] / speed[VARIANTS[2]]}
        assert r["same_tokens_a_b"] is True
    assert res["prompts"]["batch"] == 4 and 4 <= res["prompts"]["min"] <= res["prompts"]["max"] <= 12


@pytest.mark.parametrize("args,message", [
    (["--tiny", "--new-tokens", "60"], "--prompt-max 12 + 60 new tokens exceed --block-size 64"),
    (["--tiny", "--n-head", "3"], "--n-embd 32 is not divisible by --n-head 3"),
    (["--tiny", "--prompt-min", "20"], "--prompt-min 20 is above --prompt-max 12"),
])
def test_bad_sizes_are_one_line_errors(tmp_path, args, message):
    proc = run_bench(*args, cwd=tmp_path, script=SCRIPT)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
