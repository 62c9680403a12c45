"""The indexer benchmark still runs end to end (tiny load, one second of live traffic).

No timing is asserted: the figures depend on the machine. What is checked is that each
stage ran and measured something: every loaded event reached chain_events, the COPY
baseline copied them, and every live transaction was seen committed and on Redis.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mirror_common.config import REPO_ROOT


def test_bench_indexer_runs(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.indexer",
            "--events",
            "300",
            "--live-seconds",
            "1",
            "--live-rate",
            "100",
            "--no-cache",
            "--json",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "== indexer benchmark ==" in r.stdout and "ratio indexer / COPY" in r.stdout
    figures = json.loads(out.read_text())

    assert figures["load"]["events"] >= 300
    assert set(figures["load"]["by_event"]) == {"MirrorCreated", "MirrorUpdated", "AccessGranted", "TrainRequested", "TrainingStarted"}
    assert figures["completeness"]["complete"], figures["completeness"]
    assert figures["backfill"]["events"] >= figures["load"]["events"]
    assert figures["copy"]["events"] == figures["backfill"]["events"]

    live = figures["live"]
    assert live["sent"] == 100 and live["refused"] == 0, live.get("first_refusal")
    assert live["reply_to_commit"]["missing"] == 0 and live["reply_to_redis"]["missing"] == 0
    assert live["indexer_alive"]
