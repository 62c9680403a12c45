"""The trainer benchmark still runs end to end (``--quick``: tiny and small, a few steps).

No timing is asserted: the figures depend on the machine and its load. What is checked is that
each stage ran and measured something: a positive peak, tokens/s and MFU for both training paths
of both sizes, the baseline and the trainer computing the same model (the same first-step loss
on the same windows from the same initial weights), and greedy generation giving the same bytes
with and without the KV cache. It runs with our services' packages made unimportable: the GPU
machine that runs ``--device cuda`` has torch and safetensors but none of them (no pydantic, no
structlog), and an import error there would cost minutes of a 15-minute lease.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mirror_common.config import REPO_ROOT

# What the GPU machine lacks (device/KINDS.md lists what it has): importing any of them fails, as it would there.
NOT_ON_THE_GPU_MACHINE = ("pydantic", "pydantic_settings", "dotenv", "structlog", "solders", "solana", "asyncpg", "redis", "nacl")
WITHOUT_THEM = f"""
import runpy, sys
class Missing:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_THE_GPU_MACHINE!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not on the GPU machine)")
sys.meta_path.insert(0, Missing())
sys.argv = ["bench.trainer", *sys.argv[1:]]
runpy.run_module("bench.trainer", run_name="__main__", alter_sys=True)
"""


def test_bench_trainer_runs(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    r = subprocess.run(
        # One thread: the cores are shared with other tests, where a second thread mostly waits.
        [sys.executable, "-c", WITHOUT_THEM, "--quick", "--threads", "1", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for line in ("== trainer benchmark ==", "peak matmul, measured:", "MFU denominator:", "plain eager", "trainer (SDPA)", "KV cache"):
        assert line in r.stdout, line
    figures = json.loads(out.read_text())

    assert figures["threads"] == 1 and figures["device"] == "cpu"
    assert figures["peak"]["flops"] > 0 and figures["peak"]["flops"] == figures["peak"]["measured"]["flops"]
    assert [s["size"] for s in figures["sizes"]] == ["tiny", "small"]
    for size in figures["sizes"]:
        g = size["geometry"]
        for path in ("baseline", "trainer"):
            f = size[path]
            assert f["tokens_per_s"] > 0 and 0 < f["mfu"], (size["size"], path, f)
            assert len(f["step_s"]) == g["warmup"] + g["steps"] and f["timed_steps"] == g["steps"]
        assert abs(size["baseline"]["losses"][0] - size["trainer"]["losses"][0]) < 1e-3, size["size"]
        assert size["ratio"] > 0
        inference = size["inference"]
        assert inference["kv_cache"]["tokens_per_s"] > 0 and inference["no_cache"]["tokens_per_s"] > 0
        assert inference["same_tokens"], size["size"]
        assert f"{size['size']:<6}" in r.stdout
