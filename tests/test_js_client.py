"""mirror-localnet against a client from another ecosystem: @solana/web3.js (v1).

tests/js/client_check.mjs drives the node through web3.js's own API only
(airdrop, balance, onLogs, transfer + memo, confirmTransaction, getTransaction,
getSignaturesForAddress, a failed and a preflight-rejected transaction), so a
JSON shape or error the library does not accept fails here, not in a user's app.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mirror_common.localnet import Localnet

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "tests" / "js"
SCRIPT = JS_DIR / "client_check.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node (Node.js >= 20) is not installed: cannot run the web3.js client check")


def ensure_node_modules() -> None:
    """`npm ci` when node_modules is missing or older than package-lock.json (a fresh machine)."""
    lock = JS_DIR / "package-lock.json"
    stamp = JS_DIR / "node_modules" / ".package-lock.json"  # written by npm ci / npm install
    if stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"{JS_DIR}/node_modules is missing and npm is not installed: run `npm ci --prefix tests/js`")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"npm ci in {JS_DIR} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


@dataclass
class CheckRun:
    """One run of a tests/js check script: its summary (printed even when some steps failed) and its report."""

    summary: dict[str, Any]
    report: str

    @property
    def failures(self) -> list[dict[str, str]]:
        return list(self.summary.get("failures", []))

    def failed(self, prefix: str) -> list[dict[str, str]]:
        """The failed steps whose name starts with `prefix`."""
        return [f for f in self.failures if f["step"].startswith(prefix)]


def run_script(script: str, net: Localnet, timeout: float = 120) -> CheckRun:
    """Runs tests/js/<script> against `net`. A run that ends without its JSON summary (a crash, a step
    that stops the run) fails the test with the script's report."""
    assert NODE is not None
    ensure_node_modules()
    try:
        result = subprocess.run(
            [NODE, str(JS_DIR / script), net.rpc_url, net.ws_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} still running after {e.timeout}s:\n{e.stdout}\n{e.stderr}")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("{"):
        pytest.fail(f"{script} printed no summary (exit {result.returncode}):\n{result.stderr}\n{result.stdout}")
    summary: dict[str, Any] = json.loads(lines[-1])
    assert summary["rpc"] == net.rpc_url and summary["ws"] == net.ws_url
    assert (result.returncode == 0) == (summary["ok"] is True) == (not summary.get("failures")), result.stderr
    return CheckRun(summary, result.stderr)


def run_check(script: str, net: Localnet, timeout: float = 120) -> dict[str, Any]:
    """Runs tests/js/<script> against `net`; its summary, every step passed, or the test fails with its report."""
    run = run_script(script, net, timeout)
    assert run.summary["ok"] is True, f"{script} failed:\n{run.report}"
    return run.summary


def test_web3js_client_against_localnet() -> None:
    ensure_node_modules()
    with Localnet() as net:
        try:
            result = subprocess.run(
                [NODE, str(SCRIPT), net.rpc_url, net.ws_url],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=150,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(f"client_check.mjs still running after {e.timeout}s:\n{e.stdout}\n{e.stderr}")

    assert result.returncode == 0, f"web3.js client check failed (exit {result.returncode}):\n{result.stderr}\n{result.stdout}"
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, f"no summary printed; stderr:\n{result.stderr}"
    summary = json.loads(lines[-1])

    assert summary["ok"] is True
    assert summary["library"].startswith("@solana/web3.js@1.")
    assert summary["rpc"] == net.rpc_url and summary["ws"] == net.ws_url
    for key in ("payer", "airdrop", "transfer", "failed"):
        assert isinstance(summary[key], str) and summary[key], key
    assert len({summary["airdrop"], summary["transfer"], summary["failed"]}) == 3
    assert summary["failedErr"] == {"InstructionError": [0, {"Custom": 1}]}
    # airdrop, transfer and the failed transfer all mention the payer.
    assert summary["logsNotifications"] >= 3
    assert summary["transferSlot"] > 0
