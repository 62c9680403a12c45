"""Throwaway PostgreSQL, Redis and Kubo (IPFS) servers for tests and the local stack, and
our own services (``python -m indexer``, …) as child processes of tests and benchmarks.

PostgreSQL and Redis run from the Debian packages (``scripts/setup`` installs them),
Kubo from the binary ``scripts/build-kubo`` builds, all as child processes on
non-default ports with their data in a directory of their own; no system service is
touched. PostgreSQL refuses to run as root, so when we are root
the cluster is created and run as the ``postgres`` system user (``runuser``) in a
directory it owns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from mirror_common.config import REPO_ROOT

PG_BIN_CANDIDATES = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15")]
KUBO_VERSION = "v0.42.0"  # scripts/build-kubo builds it; v0.43.1 needs a go-libp2p fork the module proxy lacks


class ServiceError(RuntimeError):
    pass


class ChildProcess:
    """One of our programs run by a test or a benchmark: ``argv`` from the repository root, with ``env``
    over this process's environment, its output appended to ``log_path`` (a restart keeps what the last
    run wrote). ``stop`` sends ``stop_signal`` and waits 10 s before SIGKILL; ``kill`` is SIGKILL at
    once: no cleanup, no flush."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path, stop_signal: int = signal.SIGTERM) -> None:
        self.argv = list(argv)
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> Self:
        with open(self.log_path, "ab") as log:  # the child has its own descriptor
            self.process = subprocess.Popen([*self.argv, *args], cwd=REPO_ROOT, env=self.env, stdout=log, stderr=log)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def json_lines(self) -> list[dict[str, Any]]:
        """The log's JSON lines (a structured log), skipping anything else (a traceback, a warning)."""
        lines = []
        for line in self.log().splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                lines.append(value)
        return lines


class IndexerProcess(ChildProcess):
    """``python -m indexer`` (migrate, catch up, follow live, publish, finality) against a node, a database and a Redis."""

    def __init__(self, rpc_url: str, database_url: str, redis_url: str, log_path: Path, stop_signal: int = signal.SIGTERM) -> None:
        env = {
            "MIRROR_RPC_URL": rpc_url,
            "MIRROR_WS_URL": "",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "INDEXER_METRICS_PORT": "0",
            "INDEXER_LOG_JSON": "true",
        }
        super().__init__([sys.executable, "-m", "indexer"], env, log_path, stop_signal)

    def is_live(self) -> bool:
        return '"event": "live"' in self.log()  # a substring, not a parse: polled while the log grows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bin_dir() -> Path:
    env = os.environ.get("MIRROR_PG_BIN")
    for d in ([Path(env)] if env else []) + PG_BIN_CANDIDATES:
        if (d / "initdb").exists():
            return d
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServiceError("PostgreSQL binaries not found: run scripts/setup (apt-get install postgresql)")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Postgres:
    """One PostgreSQL cluster. ``data_dir=None``: a fresh temporary cluster, removed on ``stop(remove=True)``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: Path | None = None,
        user: str = "mirror",
        database: str = "mirror",
        fsync: bool = True,
        log_path: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.temporary = data_dir is None
        self.base = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="mirror-pg-"))
        self.data_dir = self.base / "data"
        self.user = user
        self.database = database
        self.fsync = fsync
        self.log_path = log_path or self.base / "postgres.log"
        self.bin = pg_bin_dir()
        self.run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def _run(self, *args: str) -> None:
        r = subprocess.run(self._cmd(*args), capture_output=True, text=True)
        if r.returncode != 0:
            raise ServiceError(f"{' '.join(args[:2])} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")

    def _prepare(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.base, self.run_as, self.run_as)
            if self.log_path.exists():
                shutil.chown(self.log_path, self.run_as, self.run_as)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                str(self.bin / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )

    def start(self, timeout: float = 30.0) -> Postgres:
        self._prepare()
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c max_connections=200"
        if not self.fsync:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_path), "-o", opts, "-w", "-t", str(int(timeout)), "start"
        )
        self.wait_ready(timeout)
        self._ensure_database()
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres"],
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise ServiceError(f"PostgreSQL not ready on {self.port} after {timeout}s (log: {self.log_path})")

    def _ensure_database(self) -> None:
        psql = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, "-d", "postgres", "-tAc"]
        exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"], capture_output=True, text=True)
        if exists.stdout.strip() != "1":
            r = subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], capture_output=True, text=True)
            if r.returncode != 0:
                raise ServiceError(f"CREATE DATABASE failed: {r.stderr.strip()}")

    def stop(self, mode: str = "fast", *, remove: bool | None = None) -> None:
        """``mode``: smart, fast or immediate (immediate = crash-like, recovery on next start)."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"), capture_output=True)
        if remove if remove is not None else self.temporary:
            shutil.rmtree(self.base, ignore_errors=True)

    def restart(self, mode: str = "fast") -> Postgres:
        self.stop(mode, remove=False)
        return self.start()

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Redis:
    """One redis-server without persistence (unless ``data_dir`` is given, then AOF there)."""

    def __init__(self, *, port: int | None = None, data_dir: Path | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.pid_file: Path | None = None
        self.temporary = data_dir is None
        self.dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="mirror-redis-"))
        self.log_path = log_path or self.dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise ServiceError("redis-server not found: run scripts/setup (apt-get install redis-server)")
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0, *, detach: bool = False) -> Redis:
        """``detach``: a daemon that outlives this process (``stop_detached`` ends it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        persist = ["--appendonly", "no", "--save", ""] if self.temporary else ["--appendonly", "yes", "--save", ""]
        cmd = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--daemonize",
            "yes" if detach else "no",
            "--logfile",
            str(self.log_path),
            *persist,
        ]
        if detach:
            self.pid_file = self.dir / "redis.pid"
            cmd += ["--pidfile", str(self.pid_file)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if detach:
            self.process.wait()
            self.process = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise ServiceError(f"redis-server exited with {self.process.returncode} (log: {self.log_path})")
            if self.ping():
                return self
            time.sleep(0.05)
        raise ServiceError(f"redis-server not ready on {self.port} after {timeout}s")

    def ping(self) -> bool:
        if not _port_open(self.port):
            return False
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, *, remove: bool | None = None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if remove if remove is not None else self.temporary:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        self.stop(signal.SIGKILL, remove=False)

    def stop_detached(self) -> None:
        """Stops a daemon started with ``start(detach=True)`` (by its pid file)."""
        pid_file = self.dir / "redis.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
            deadline = time.monotonic() + 10
            while self.ping() and time.monotonic() < deadline:
                time.sleep(0.05)

    def __enter__(self) -> Redis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kubo_binary() -> Path:
    """Where scripts/build-kubo puts Kubo (``MIRROR_KUBO_BIN`` overrides), built or not."""
    env = os.environ.get("MIRROR_KUBO_BIN")
    version = os.environ.get("MIRROR_KUBO_VERSION", KUBO_VERSION)
    return Path(env) if env else Path.home() / ".cache" / "mirror-reality" / "kubo" / version / "ipfs"


class Kubo:
    """One Kubo (IPFS) daemon in its own ``IPFS_PATH``, initialised with the ``unixfs-v1-2025`` import
    profile, RPC API, gateway and swarm on free 127.0.0.1 ports, no bootstrap peers, no routing and
    no remote autoconf. ``offline`` (the default) runs ``ipfs daemon --offline``: nothing leaves the
    machine and a block that is not local is reported missing at once instead of searched for."""

    def __init__(self, *, ipfs_path: Path | None = None, binary: Path | None = None, offline: bool = True) -> None:
        self.binary = binary or kubo_binary()
        if not self.binary.exists():
            raise ServiceError(f"Kubo not found at {self.binary}: run scripts/build-kubo")
        self.temporary = ipfs_path is None
        self.ipfs_path = Path(ipfs_path) if ipfs_path else Path(tempfile.mkdtemp(prefix="mirror-kubo-"))
        self.log_path = self.ipfs_path / "daemon.log"
        self.offline = offline
        self.api_port = self.gateway_port = self.swarm_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The RPC API's base URL, as ``Settings.ipfs_api_url`` takes it."""
        return f"http://127.0.0.1:{self.api_port}"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "IPFS_PATH": str(self.ipfs_path)}

    def _configure(self) -> None:
        import json

        self.ipfs_path.mkdir(parents=True, exist_ok=True)
        config_path = self.ipfs_path / "config"
        if not config_path.exists():
            r = subprocess.run(
                [str(self.binary), "init", "--profile=unixfs-v1-2025", "--empty-repo"], env=self._env(), capture_output=True, text=True
            )
            if r.returncode != 0:
                raise ServiceError(f"ipfs init failed ({r.returncode}): {r.stderr.strip()}")
        self.api_port, self.gateway_port, self.swarm_port = free_port(), free_port(), free_port()
        config = json.loads(config_path.read_text())
        config["Addresses"].update(
            API=f"/ip4/127.0.0.1/tcp/{self.api_port}",
            Gateway=f"/ip4/127.0.0.1/tcp/{self.gateway_port}",
            Swarm=[f"/ip4/127.0.0.1/tcp/{self.swarm_port}"],
        )
        config["Bootstrap"] = []
        config["AutoConf"] = {"Enabled": False}  # no fetch of remote defaults; no "auto" placeholders left below
        config["Routing"] = {"Type": "none", "DelegatedRouters": []}
        config["DNS"] = {"Resolvers": {}}
        config["Ipns"]["DelegatedPublishers"] = []
        config["Discovery"] = {"MDNS": {"Enabled": False}}
        config_path.write_text(json.dumps(config, indent=2))

    def start(self, timeout: float = 30.0) -> Kubo:
        import urllib.error
        import urllib.request

        self._configure()
        args = [str(self.binary), "daemon", *(["--offline"] if self.offline else [])]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"ipfs daemon exited with {self.process.returncode} (log: {self.log_path})")
            try:
                with urllib.request.urlopen(urllib.request.Request(f"{self.url}/api/v0/version", method="POST"), timeout=1):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop(remove=False)
        raise ServiceError(f"ipfs daemon not ready on {self.api_port} after {timeout}s (log: {self.log_path})")

    def stop(self, *, remove: bool | None = None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Kubo shuts down cleanly (repo lock released)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if remove if remove is not None else self.temporary:
            shutil.rmtree(self.ipfs_path, ignore_errors=True)

    def __enter__(self) -> Kubo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_of(url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or default


def main(argv: list[str] | None = None) -> int:
    """``python -m mirror_common.services start|stop|status``: the stack's PostgreSQL and
    Redis on the ports of DATABASE_URL and REDIS_URL, data in MIRROR_DATA_DIR, detached."""
    import argparse
    from urllib.parse import urlsplit

    from mirror_common.config import settings

    ap = argparse.ArgumentParser(prog="python -m mirror_common.services", description=main.__doc__)
    ap.add_argument("action", choices=("start", "stop", "status"))
    args = ap.parse_args(argv)
    s = settings()
    db = urlsplit(s.database_url)
    pg = Postgres(
        port=_port_of(s.database_url, 5432),
        data_dir=s.mirror_data_dir / "postgres",
        user=db.username or "mirror",
        database=(db.path or "/mirror").lstrip("/") or "mirror",
    )
    rd = Redis(port=_port_of(s.redis_url, 6379), data_dir=s.mirror_data_dir / "redis")
    pg_up = _port_open(pg.port)
    rd_up = rd.ping()
    if args.action == "status":
        print(f"postgresql {pg.url}: {'up' if pg_up else 'down'}\nredis {rd.url}: {'up' if rd_up else 'down'}")
        return 0 if pg_up and rd_up else 1
    if args.action == "start":
        if not pg_up:
            pg.start()
        if not rd_up:
            rd.start(detach=True)
        print(f"postgresql {pg.url}\nredis {rd.url}")
        return 0
    pg.stop(remove=False)
    rd.stop_detached()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
