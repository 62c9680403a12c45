"""What every benchmark here prints and records the same way: progress on stderr, percentiles,
the machine's conditions, the commit it measured (with a word when the measured code differs),
the report and its JSON, and a throwaway working directory."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx


def say(*parts: object) -> None:
    """Progress, on stderr: stdout is the report."""
    print(*parts, file=sys.stderr, flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def conditions() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def code_version(*paths: str) -> str:
    """The commit, and whether the code under ``paths`` differs from it in this working tree."""
    # Imported here: bench.trainer, which imports this module, runs on the GPU machine, which has torch but not
    # pydantic (mirror_common.config's settings).
    from mirror_common.config import REPO_ROOT

    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=REPO_ROOT, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", *paths)
    return head + (f" + uncommitted changes to {'/'.join(paths)}" if dirty else "")


def publish(result: dict[str, Any], report: str, json_path: Path | None) -> None:
    """The report on stdout; with ``--json``, the figures as JSON too."""
    print(report, flush=True)
    if json_path:
        json_path.write_text(json.dumps(result, indent=1, default=str))


@contextmanager
def work_directory(prefix: str, keep: bool) -> Iterator[Path]:
    """A throwaway directory for logs and data, removed at the end unless ``keep`` (``--keep``)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def labelled_counter(base_url: str, metric: str, label: str) -> dict[str, float]:
    """A Prometheus counter of the server at ``base_url`` (its ``/metrics``) by the value of its one label, e.g.
    ``mirror_api_lookups_total`` by ``what``: {"lookup": ..., "statement": ...}."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return {m[0]: float(m[1]) for m in re.findall(rf'^{metric}\{{{label}="(\w+)"\}} (\S+)$', text, re.M)}
