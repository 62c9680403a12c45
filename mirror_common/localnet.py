"""Starts, health-checks and stops a mirror-localnet process (tests and the stack)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from mirror_common.config import REPO_ROOT, settings, ws_url_for


def free_port_pair() -> int:
    """A port P such that P and P+1 are free (RPC and PubSub)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free pair of ports")


class LocalnetError(RuntimeError):
    pass


class Localnet:
    """One node process. `ledger_dir` makes state survive `restart()`."""

    def __init__(
        self,
        *,
        rpc_port: int | None = None,
        ledger_dir: Path | None = None,
        bootstrap: bool = True,
        finality_depth: int = 2,
        slot_ms: int = 100,
        binary: Path | None = None,
        log_path: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.rpc_port = rpc_port or free_port_pair()
        self.ledger_dir = ledger_dir
        self.bootstrap = bootstrap
        self.finality_depth = finality_depth
        self.slot_ms = slot_ms
        self.binary = Path(binary or settings().localnet_bin)
        self.log_path = log_path
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def ws_url(self) -> str:
        return ws_url_for(self.rpc_url)

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "--rpc-port",
            str(self.rpc_port),
            "--finality-depth",
            str(self.finality_depth),
            "--slot-ms",
            str(self.slot_ms),
            *self.extra_args,
        ]
        if self.ledger_dir is not None:
            cmd += ["--ledger", str(self.ledger_dir)]
        if self.bootstrap:
            cmd.append("--bootstrap")
        return cmd

    def start(self, timeout: float = 60.0) -> Localnet:
        if not self.binary.exists():
            raise LocalnetError(f"{self.binary} not built: run `cargo build -p mirror-localnet`")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), cwd=REPO_ROOT, stdout=log, stderr=log, env=os.environ.copy())
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise LocalnetError(f"mirror-localnet exited with {self.process.returncode}")
            try:
                r = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}, timeout=1.0)
                if r.status_code == 200 and r.json().get("result") == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise LocalnetError(f"mirror-localnet not healthy after {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        self.stop(signal.SIGKILL)

    def restart(self, timeout: float = 60.0) -> Localnet:
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> Localnet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
