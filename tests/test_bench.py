"""bench/bench_throughput.py: one smoke run at a tiny size (the figures are not checked, only that the
benchmark runs end to end and reports every one of them)."""
import json
import os
import subprocess
import sys

import pytest

from ipa_finetune.files import PROJECT_ROOT

SCRIPT = os.path.join(PROJECT_ROOT, "bench", "bench_throughput.py")
PIPELINES = ("(a) nanoGPT, project pipeline", "(b) HF GPT-2, project pipeline",
             "(c) HF GPT-2, padded to max_length")


def run_bench(*args, cwd, script=SCRIPT):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.run([sys.executable, script, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_tiny_run_prints_and_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_bench("--tiny", "--threads", "1", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    for name in PIPELINES:
        row = next((line for line in text.splitlines() if line.startswith(name)), None)
        assert row is not None, f"no row for {name} in:\n{text}"
        assert len(row[len(name):].split()) == 5, row  # examples/s, tok/s, padding, MiB, share
    for figure in ("ratio a/b", "ratio a/c", "matmul peak:", "of the matmul peak", "peak memory:",
                   "preprocessing (load + tokenize + cache) of 1,000 examples: cold", "warm", "tokenize + cache"):
        assert figure in text, f"{figure!r} missing from:\n{text}"

    res = json.loads(out.read_text())
    assert [r["name"] for r in res["pipelines"]] == list(PIPELINES)
    for r in res["pipelines"]:
        assert r["examples_per_s"] > 0 and r["real_tokens_per_s"] > 0 and r["peak_memory_bytes"] > 0
        assert 0 < r["matmul_peak_share"]
    a, b, c = res["pipelines"]
    # the same data: (c) computes every example at full length, (a) and (b) only up to each batch's longest
    assert a["fed_tokens"] == b["fed_tokens"] < c["fed_tokens"]
    assert c["fed_tokens"] == res["data"]["examples"] * res["size"]["block_size"]
    assert res["ratios"]["a/b"] == a["examples_per_s"] / b["examples_per_s"]
    assert res["matmul_peak"]["flops"] > 0
    pre = res["preprocessing"]
    assert 0 < pre["cold_tokenize_s"] < pre["cold_s"] and 0 < pre["warm_tokenize_s"] < pre["warm_s"]


def test_cuda_on_a_machine_without_one_is_a_user_error():
    import importlib.util

    import torch

    from ipa_finetune.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda runs")
    spec = importlib.util.spec_from_file_location("bench_throughput", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with pytest.raises(UserError, match="--device cuda: torch sees no CUDA GPU"):
        bench.pick_device("cuda")
    assert bench.pick_device("auto") == "cpu"
