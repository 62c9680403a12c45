"""The API benchmark still runs end to end (two client counts, half a second each, 50 subscribers).

No timing is asserted: the figures depend on the machine. What is checked is that each
stage ran and measured something: the API and the plain route answered the same JSON and
served every request of the load without an error, and every subscriber got every event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.api.run import LOADGEN_BIN, go_binary
from mirror_common.config import REPO_ROOT


def test_bench_api_runs(tmp_path: Path) -> None:
    if go_binary() is None and not LOADGEN_BIN.exists():
        reason = "go not found: the benchmark's load generator is Go (standard library only); install Go 1.22+, as for Kubo"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI has Go: a missing one there is a broken setup, not a skip
        pytest.skip(reason)
    out = tmp_path / "figures.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.api",
            "--quick",
            "--clients",
            "1,4",
            "--seconds",
            "0.5",
            "--mirrors",
            "100",
            "--subscribers",
            "50",
            "--events",
            "2",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "== API benchmark ==" in r.stdout and "rate limits OFF" in r.stdout and "fan-out" in r.stdout
    figures = json.loads(out.read_text())

    for name in ("mirror", "nested"):
        entry = figures["throughput"][name]
        assert entry["check"]["bytes_api"] > 0  # the same JSON as the baseline, checked before timing
        assert [p["clients"] for p in entry["points"]] == [1, 4]
        for point in entry["points"]:
            for side in ("api", "baseline"):
                assert point[side]["requests"] > 0 and point[side]["errors"] == 0, point[side]
            assert point["ratio"] > 0

    fanout = figures["fanout"]
    assert fanout["subscribers"] == 50 and len(fanout["rounds"]) == 2
    assert fanout["missing"] == 0 and all(r["delivered"] == 50 for r in fanout["rounds"])
    plain = figures["fanout_baseline"]  # the plain WebSocket route, its messages checked equal to the API's first
    assert figures["fanout_same_json"] is True and plain["missing"] == 0 and len(plain["rounds"]) == 2
    assert "API / plain: p99" in r.stdout


def test_bench_api_in_process_runs() -> None:
    """bench/api/inprocess.py (the app without sockets, for CPU and call counts) still answers and counts its lookups."""
    r = subprocess.run(
        [sys.executable, "-m", "bench.api.inprocess", "--requests", "32", "--concurrency", "4", "--warmup", "2", "--profile"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"mirror":{' in r.stderr, r.stderr[-2000:]  # the answer it printed holds the mirror
    assert "mirror: 32 requests, 4 in flight" in r.stdout and " lookups in " in r.stdout and " calls (" in r.stdout, r.stdout[-2000:]
