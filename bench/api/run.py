"""API benchmark: requests per second and latency of `mirror(address)` and of the nested
100-mirror query beside a plain FastAPI route, and subscription fan-out.

    python -m bench.api                  # 5 s per point at 1, 16 and 64 clients, 1,000 subscribers
    python -m bench.api --quick          # 1 s per point, 200 subscribers
    python -m bench.api --seconds 2 --clients 1,16 --subscribers 100 --json out.json

Prints figures; asserts nothing about time. See bench/api/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/api/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import httpx
import orjson
import redis.asyncio as aioredis
import uvloop

from bench.api.seed import address, seed
from bench.common import code_version, conditions, labelled_counter, pct, publish, say, work_directory
from indexer.publish import CHANNEL, message
from mirror_common.config import REPO_ROOT
from mirror_common.services import ChildProcess, Postgres, Redis, free_port

GOAL_MIRROR_RPS = 1_500
GOAL_MIRROR_P99_MS = 25.0
GOAL_RATIO = 0.5
GOAL_FANOUT_P99_MS = 100.0
LOADGEN_DIR = REPO_ROOT / "bench" / "api" / "loadgen"
LOADGEN_BIN = Path.home() / ".cache" / "mirror-reality" / "bench-api" / "loadgen"

MIRROR_QUERY = """query MirrorByAddress($address: Address!) { mirror(address: $address) {
  id address owner visibility name metadataUri status modelVersion jobCount createdAt updatedAt } }"""
# tests/test_api_dataloaders.py's NESTED, with n = 100
NESTED_QUERY = """query NestedMirrors($n: Int) { mirrors(first: $n) { totalCount edges { node { address name
  grants { totalCount edges { node { grantee effective } } }
  trainingJobs { edges { node { status modelVersion { version } } } }
  latestModel { version modelCid } } } } }"""
SUBSCRIPTION = "subscription Fanout($mirror: Address!) { events(filter: {mirror: $mirror}) { eventId name slot data } }"


# --- the load generator -------------------------------------------------------------


def go_binary() -> str | None:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    return go if Path(go).exists() else None


def build_loadgen() -> Path:
    """``go build`` into a cache outside the checkout, again only when a source is newer."""
    sources = [*LOADGEN_DIR.glob("*.go"), LOADGEN_DIR / "go.mod"]
    if LOADGEN_BIN.exists() and all(s.stat().st_mtime <= LOADGEN_BIN.stat().st_mtime for s in sources):
        return LOADGEN_BIN
    go = go_binary()
    if go is None:
        raise RuntimeError("go not found: the load generator is Go (standard library only); install Go 1.22+")
    LOADGEN_BIN.parent.mkdir(parents=True, exist_ok=True)
    say(f"building the load generator into {LOADGEN_BIN}")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}  # no modules: nothing to download
    subprocess.run([go, "build", "-o", str(LOADGEN_BIN), "."], cwd=LOADGEN_DIR, env=env, check=True)
    return LOADGEN_BIN


def loadgen(binary: Path, url: str, body: Path, clients: int, seconds: float, warmup: float, expect: str) -> dict[str, Any]:
    r = subprocess.run(
        [str(binary), "-url", url, "-body", str(body), "-c", str(clients), "-d", f"{seconds}s", "-warmup", f"{warmup}s", "-expect", expect],
        capture_output=True,
        text=True,
        timeout=seconds + warmup + 60,
    )
    if r.returncode != 0:
        raise RuntimeError(f"loadgen failed: {r.stderr.strip()}")
    out: dict[str, Any] = json.loads(r.stdout)
    return out


# --- the servers ----------------------------------------------------------------------


class Server(ChildProcess):
    """A server as a child process, logging to a file; up once ``health`` answers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, health: str, work: Path) -> None:
        super().__init__(argv, env, work / f"{name}.log")
        self.name, self.port, self.health = name, port, health

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; log {self.log_path}:\n{self.log()[-3000:]}")
            try:
                httpx.request("GET" if self.health.startswith("/healthz") else "POST", self.url + self.health, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not up after {timeout}s; log {self.log_path}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server and its worker processes so far."""
        if self.process is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if self.process.pid in (pid, ppid):
                total += (int(fields[11]) + int(fields[12])) / tick
        return total

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, MiB."""
        if self.process is None:
            return 0.0
        total = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            if self.process.pid in (int(status.parent.name), int(fields.get("PPid", "0"))) and "VmRSS" in fields:
                total += int(fields["VmRSS"].split()[0])
        return total / 1024


def api_server(database_url: str, redis_url: str, work: Path, workers: int) -> Server:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MIRROR_RPC_URL": "http://127.0.0.1:9",  # no node: /healthz's lag is null, queries do not need one
        "MIRROR_DATA_DIR": str(work),
        "API_PORT": str(port),
        "API_LOG_JSON": "true",
        "API_JWT_SECRET": "bench-secret-" + "x" * 40,
        "API_RATE_IP": "0",  # rate limits off: one client IP sends everything
        "API_RATE_WALLET": "0",
        "API_WORKERS": str(workers),
    }
    return Server("api", [sys.executable, "-m", "graphql_api"], env, port, "/healthz", work)


def baseline_server(database_url: str, redis_url: str, work: Path, workers: int) -> Server:
    port = free_port()
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "BASELINE_PORT": str(port), "API_WORKERS": str(workers)}
    return Server("baseline", [sys.executable, "-m", "bench.api.baseline"], env, port, "/graphql", work)


async def create_database(pg: Postgres, mirrors: int) -> tuple[str, list[str]]:
    """A fresh, migrated database with ``mirrors`` public mirrors (2 jobs and models, a grant, an event each)."""
    from indexer.migrate import migrate
    from mirror_common.pg import init_connection

    admin = await asyncpg.connect(pg.url)
    try:
        await admin.execute('DROP DATABASE IF EXISTS "bench_api" WITH (FORCE)')
        await admin.execute('CREATE DATABASE "bench_api"')
    finally:
        await admin.close()
    url = pg.url.rsplit("/", 1)[0] + "/bench_api"
    await migrate(url)
    conn = await asyncpg.connect(url)
    try:
        await init_connection(conn)
        async with conn.transaction():
            addresses = await seed(conn, mirrors=mirrors, owner=address(), grantee=address(), jobs=2)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return url, addresses


# --- 1. requests per second -------------------------------------------------------------


def body_file(work: Path, name: str, query: str, operation: str, variables: dict[str, Any]) -> Path:
    path = work / f"{name}.json"
    path.write_bytes(orjson.dumps({"query": query, "operationName": operation, "variables": variables}))
    return path


def same_json(api: Server, baseline: Server, body: Path) -> dict[str, Any]:
    """Both answer the body with the same JSON (parsed, so key order and spacing do not count)."""
    a = httpx.post(api.url + "/graphql", content=body.read_bytes(), headers={"content-type": "application/json"}, timeout=30)
    b = httpx.post(baseline.url + "/graphql", content=body.read_bytes(), headers={"content-type": "application/json"}, timeout=30)
    ja, jb = a.json(), b.json()
    if a.status_code != 200 or "errors" in ja or ja != jb:
        raise RuntimeError(
            f"the API and the baseline disagree on {body.name}: API {a.status_code} {a.text[:600]} / "
            f"baseline {b.status_code} {b.text[:600]}"
        )
    return {"bytes_api": len(a.content), "bytes_baseline": len(b.content)}


def throughput(args: argparse.Namespace, binary: Path, api: Server, baseline: Server | None, work: Path, first: str) -> dict[str, Any]:
    queries = {
        "mirror": body_file(work, "mirror", MIRROR_QUERY, "MirrorByAddress", {"address": first}),
        "nested": body_file(work, "nested", NESTED_QUERY, "NestedMirrors", {"n": 100}),
    }
    expect = {"mirror": f'"address":"{first}"', "nested": '"latestModel":{"version":"2"'}
    out: dict[str, Any] = {}
    for name, body in queries.items():
        entry: dict[str, Any] = {"points": []}
        if baseline is not None:
            entry["check"] = same_json(api, baseline, body)
        for clients in args.clients:
            point: dict[str, Any] = {"clients": clients}
            targets = [("api", api)] + ([("baseline", baseline)] if baseline is not None else [])
            for label, server in targets:
                cpu, lookups = server.cpu_seconds(), api_lookups(api)
                point[label] = p = loadgen(binary, server.url + "/graphql", body, clients, args.seconds, args.warmup, expect[name])
                # the server's CPU per request, warm-up included: less sensitive than req/s to what else runs on the machine
                served = max(1, p["requests"] + p["warmup_requests"])
                p["server_cpu_ms"] = 1000 * (server.cpu_seconds() - cpu) / served
                if label == "api":  # lookups shared by concurrent requests (graphql_api/coalesce.py), summed over the workers
                    now = api_lookups(api)
                    p["lookups_per_statement"] = (now[0] - lookups[0]) / max(1, now[1] - lookups[1])
            if baseline is not None and point["baseline"]["rps"]:
                point["ratio"] = point["api"]["rps"] / point["baseline"]["rps"]
            say(f"  {name:6} {clients:3} clients: " + "; ".join(f"{label} {fmt_point(point[label])}" for label, _ in targets))
            entry["points"].append(point)
        out[name] = entry
    return out


def api_lookups(api: Server) -> tuple[float, float]:
    """The API's ``mirror_api_lookups_total``: lookups by key, and the statements that served them."""
    found = labelled_counter(api.url, "mirror_api_lookups_total", "what")
    return found.get("lookup", 0.0), found.get("statement", 0.0)


def fmt_point(p: dict[str, Any]) -> str:
    errors = f", {p['errors']} errors ({p.get('first_error', '')[:80]})" if p["errors"] else ""
    return f"{p['rps']:,.0f} req/s p50 {p['p50_ms']:.1f} p99 {p['p99_ms']:.1f} ms, server CPU {p['server_cpu_ms']:.2f} ms/req{errors}"


# --- 2. subscription fan-out -------------------------------------------------------------


class FanoutClients:
    """``loadgen fanout`` (bench/api/loadgen/fanout.go): the subscribers, in Go, as a child process that
    says on stdout when all are subscribed, when all are live, and when each event reached all."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.ready = asyncio.Event()
        self.live = asyncio.Event()
        self.complete: dict[str, asyncio.Event] = {}
        self.final: dict[str, Any] | None = None
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, binary: Path, url: str, subscribers: int, mirror: str) -> FanoutClients:
        variables = json.dumps({"mirror": mirror})
        argv = [str(binary), "fanout", "-url", url, "-n", str(subscribers), "-query", SUBSCRIPTION, "-variables", variables]
        pipes = {"stdin": asyncio.subprocess.PIPE, "stdout": asyncio.subprocess.PIPE}
        process = await asyncio.create_subprocess_exec(*argv, **pipes, limit=1 << 26)  # the last line holds every arrival
        return cls(process)

    def delivered(self, event_id: int | str) -> asyncio.Event:
        return self.complete.setdefault(str(event_id), asyncio.Event())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            report = orjson.loads(line)
            if "ready" in report:
                self.ready.set()
            elif "live" in report:
                self.live.set()
            elif "complete" in report:
                self.delivered(report["complete"]).set()
            elif "arrivals" in report:
                self.final = report

    async def finish(self) -> dict[str, Any]:
        """Closes the clients' stdin: they report every arrival and exit."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 30)
        await self.reader
        if self.final is None:
            raise RuntimeError(f"loadgen fanout exited {self.process.returncode} without its report")
        return self.final


async def wait_or_fail(event: asyncio.Event, clients: FanoutClients, what: str, timeout: float) -> None:
    """Waits for ``event``; if it does not come, the clients' own errors say why."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        report = await clients.finish()
        errors = report["errors"]
        raise RuntimeError(f"{what}: not after {timeout:.0f} s; {len(errors)} client errors, first: {errors[:1]}") from None


async def commit_and_publish(conn: asyncpg.Connection, redis: aioredis.Redis, mirror: str, n: int) -> tuple[int, int]:
    """What the indexer does for one event: the row in a transaction, COMMIT, then the Redis
    messages on ``mirror:events`` and ``mirror:events:<mirror>`` (indexer/publish.py's shape).
    Returns the event id and the wall-clock time just after COMMIT, in ns (the clients stamp with the same clock)."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload, block_time_unix)
               VALUES ($1, 0, $2, 'bench', 'MirrorUpdated', $3, $4)
               RETURNING id, signature, event_index, slot, block_time_unix, name, payload""",
            f"bench-{time.time_ns()}-{n}",
            1_000 + n,
            {"mirror": mirror, "n": n},
            1_700_000_000 + n,
        )
    t0 = time.time_ns()
    assert row is not None
    text = orjson.dumps(message(row)).decode()
    pipe = redis.pipeline(transaction=False)
    pipe.publish(CHANNEL, text)
    pipe.publish(f"{CHANNEL}:{mirror}", text)
    await pipe.execute()
    return int(row["id"]), t0


async def same_next(api: Server, plain: Server, database_url: str, redis_url: str, mirror: str) -> bool:
    """Before any timing: one subscriber on each server, one event; both ``next`` payloads must be equal."""
    import websockets

    from mirror_common.pg import init_connection

    async def subscribe(server: Server) -> Any:
        ws = await websockets.connect(server.url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send('{"type":"connection_init","payload":{}}')
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION, "variables": {"mirror": mirror}}}
        await ws.send(orjson.dumps(subscribe).decode())
        return ws

    sockets = [await subscribe(api), await subscribe(plain)]
    conn = await asyncpg.connect(database_url)
    await init_connection(conn)
    redis = aioredis.from_url(redis_url)
    try:
        await asyncio.sleep(1.0)  # each subscription registered
        await commit_and_publish(conn, redis, mirror, 0)
        a, b = [orjson.loads(await asyncio.wait_for(ws.recv(), 10)) for ws in sockets]
    finally:
        for ws in sockets:
            await ws.close()
        await redis.aclose()
        await conn.close()
    if a != b:
        raise RuntimeError(f"the API and the baseline send different messages for one event: API {a} / baseline {b}")
    return True


async def fanout(
    api: Server, binary: Path, database_url: str, redis_url: str, mirror: str, subscribers: int, rounds: int
) -> dict[str, Any]:
    from mirror_common.pg import init_connection

    started = time.perf_counter()
    clients = await FanoutClients.start(binary, api.url.replace("http://", "ws://") + "/graphql", subscribers, mirror)
    conn = await asyncpg.connect(database_url)
    await init_connection(conn)
    redis = aioredis.from_url(redis_url)
    out: dict[str, Any] = {"subscribers": subscribers, "rounds": []}
    try:
        await wait_or_fail(clients.ready, clients, "every subscriber subscribed", 120)
        out["connect_s"] = time.perf_counter() - started
        # A subscription registers with the hub a moment after `subscribe`: warm-up events until every
        # subscriber has received one, so that every measured event reaches all.
        warm = 0
        while not clients.live.is_set():
            if time.perf_counter() - started > 120:
                await wait_or_fail(clients.live, clients, "every subscriber live", 0.1)
            await commit_and_publish(conn, redis, mirror, warm)
            warm += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clients.live.wait(), 0.5)
        out["live_s"] = time.perf_counter() - started
        out["server_rss_mb"] = api.rss_mb()
        out["warmup_events"] = warm
        await asyncio.sleep(0.5)
        measured: list[tuple[int, int, float]] = []  # event id, commit time (ns, wall clock: the clients' clock), API CPU ms
        for n in range(rounds):
            cpu0 = api.cpu_seconds()
            event_id, t0_ns = await commit_and_publish(conn, redis, mirror, 1_000 + n)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(clients.delivered(event_id).wait(), 10)
            measured.append((event_id, t0_ns, 1000 * (api.cpu_seconds() - cpu0)))
            await asyncio.sleep(0.3)
        report = await clients.finish()
        all_ms: list[float] = []
        for event_id, t0_ns, cpu_ms in measured:
            ms = [(t - t0_ns) / 1e6 for t in report["arrivals"].get(str(event_id), [])]
            all_ms += ms
            rnd = {
                "event_id": event_id,
                "delivered": len(ms),
                "missing": subscribers - len(ms),
                "p50_ms": pct(ms, 50),
                "p99_ms": pct(ms, 99),
                "max_ms": max(ms) if ms else float("nan"),
                "server_cpu_ms": cpu_ms,  # the API's CPU time until the last delivery
            }
            out["rounds"].append(rnd)
            say(
                f"  event {len(out['rounds'])}/{rounds}: delivered to {len(ms)}/{subscribers}, p50 {rnd['p50_ms']:.1f} "
                f"p99 {rnd['p99_ms']:.1f} last {rnd['max_ms']:.1f} ms; {api.name} CPU {cpu_ms:.0f} ms"
            )
        out["client_errors"] = report["errors"][:5]
        out["client_cpu_s"] = report["cpu_seconds"]
        out["all"] = {"p50_ms": pct(all_ms, 50), "p99_ms": pct(all_ms, 99), "max_ms": max(all_ms) if all_ms else float("nan")}
        out["last_delivery_ms"] = {
            "median": statistics.median(r["max_ms"] for r in out["rounds"]),
            "max": max(r["max_ms"] for r in out["rounds"]),
        }
        out["missing"] = sum(r["missing"] for r in out["rounds"])
        return out
    finally:
        if clients.process.returncode is None:
            clients.process.kill()
            await clients.process.wait()
        clients.reader.cancel()
        await redis.aclose()
        await conn.close()


# --- report -------------------------------------------------------------------------------


def report(result: dict[str, Any]) -> str:
    c0, c1 = result["conditions_start"], result["conditions_end"]
    lines = [
        "== API benchmark ==",
        f"API {result['api_version']}; {c0['cpus']} CPUs ({c0['machine']}), Python {c0['python']}, load average "
        f"{c0['loadavg'][0]} at the start, {c1['loadavg'][0]} at the end; uvicorn workers: {result['workers']} (API and baseline)",
        f"data: {result['mirrors']} public mirrors, each with a VIEW grant, 2 completed jobs, 2 model versions; anonymous viewer;",
        "rate limits OFF (API_RATE_IP=0, API_RATE_WALLET=0): every request comes from one IP",
        f"load: closed loop, Go (bench/api/loadgen), {result['seconds']} s per point after {result['warmup']} s warm-up, one keep-alive "
        "connection per client, on the same 2 cores as the servers; CPU ms: the server's CPU time per request; lookups/stmt: the "
        "API's lookups by key per statement (concurrent requests share statements, graphql_api/coalesce.py; the baseline runs one each)",
    ]
    titles = {"mirror": "mirror(address)", "nested": "nested: mirrors(first: 100) with grants, jobs and their models, latest model"}
    for name, entry in result.get("throughput", {}).items():
        lines.append(f"{titles[name]}  (response {entry.get('check', {}).get('bytes_api', '?')} bytes; same JSON as the baseline: checked)")
        lines.append(
            f"  {'clients':>7}  {'API req/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7}   "
            f"{'baseline req/s':>14} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>7}   ratio   lookups/stmt"
        )
        for p in entry["points"]:
            a = p["api"]
            row = f"  {p['clients']:>7}  {a['rps']:>10,.0f} {a['p50_ms']:>7.1f} {a['p99_ms']:>7.1f} {a['server_cpu_ms']:>7.2f}"
            if "baseline" in p:
                b = p["baseline"]
                row += f"   {b['rps']:>14,.0f} {b['p50_ms']:>7.1f} {b['p99_ms']:>7.1f} {b['server_cpu_ms']:>7.2f}   {p['ratio']:5.2f}"
            row += f"   {a['lookups_per_statement']:12.1f}"
            errors = a["errors"] + p.get("baseline", {}).get("errors", 0)
            if errors:
                row += f"   ERRORS: {errors} ({a.get('first_error') or p['baseline'].get('first_error')})"
            lines.append(row)
    f = result.get("fanout")
    if f:
        lines.append(
            f"fan-out: {f['subscribers']:,} graphql-transport-ws subscribers to events(filter: {{mirror}}) (connected in "
            f"{f['connect_s']:.1f} s; API memory {f['server_rss_mb']:.0f} MiB), {len(f['rounds'])} events, each: INSERT + COMMIT, "
            "then PUBLISH as the indexer does"
        )
        lines.append(
            f"  commit -> delivery, all deliveries: p50 {f['all']['p50_ms']:.1f} ms  p99 {f['all']['p99_ms']:.1f} ms  "
            f"max {f['all']['max_ms']:.1f} ms; commit -> last delivery per event: median {f['last_delivery_ms']['median']:.1f} ms, "
            f"worst {f['last_delivery_ms']['max']:.1f} ms; missing {f['missing']}"
        )
    fb = result.get("fanout_baseline")
    if f and fb:
        lines.append(
            f"  plain WebSocket route (bench/api/baseline.py, same messages: checked): p50 {fb['all']['p50_ms']:.1f} ms  "
            f"p99 {fb['all']['p99_ms']:.1f} ms  max {fb['all']['max_ms']:.1f} ms; last delivery median "
            f"{fb['last_delivery_ms']['median']:.1f} ms; memory {fb['server_rss_mb']:.0f} MiB"
        )
        cpu_api, cpu_plain = (statistics.mean(r["server_cpu_ms"] for r in x["rounds"]) for x in (f, fb))
        cpu_ratio = f"{cpu_api / cpu_plain:.2f}x" if cpu_plain > 0 else "under the clock's 10 ms tick"  # a few subscribers
        lines.append(
            f"  API / plain: p99 {f['all']['p99_ms'] / fb['all']['p99_ms']:.2f}x the time, server CPU per event "
            f"{cpu_api:.0f} / {cpu_plain:.0f} ms ({cpu_ratio})"
        )
    lines.append("goals (this 2-core machine):")
    m16 = next((p for p in result.get("throughput", {}).get("mirror", {}).get("points", []) if p["clients"] == 16), None)
    if m16:
        a = m16["api"]
        lines.append(
            f"  mirror(address) at 16 clients: {a['rps']:,.0f} req/s (goal >= {GOAL_MIRROR_RPS:,}: {met(a['rps'] >= GOAL_MIRROR_RPS)}), "
            f"p99 {a['p99_ms']:.1f} ms (goal < {GOAL_MIRROR_P99_MS:.0f}: {met(a['p99_ms'] < GOAL_MIRROR_P99_MS)})"
            + (f", ratio {m16['ratio']:.2f} (goal >= {GOAL_RATIO}: {met(m16['ratio'] >= GOAL_RATIO)})" if "ratio" in m16 else "")
        )
    if f:
        p99 = f["all"]["p99_ms"]
        lines.append(f"  fan-out p99 {p99:.1f} ms (goal < {GOAL_FANOUT_P99_MS:.0f}: {met(p99 < GOAL_FANOUT_P99_MS)})")
    return "\n".join(lines)


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 s per point, 200 subscribers, 2 events")
    ap.add_argument("--seconds", type=float, default=None, help="measured seconds per point (default 5, quick 1)")
    ap.add_argument("--warmup", type=float, default=None, help="unmeasured seconds before each point (default 1, quick 0.3)")
    ap.add_argument("--clients", default="1,16,64", help="concurrent clients, comma-separated (default 1,16,64)")
    ap.add_argument("--mirrors", type=int, default=200, help="mirrors in the database (default 200; the nested query reads 100)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn workers of the API and of the baseline (API_WORKERS; default 1)")
    ap.add_argument("--subscribers", type=int, default=None, help="fan-out subscribers (default 1,000, quick 200; 0: no fan-out)")
    ap.add_argument("--events", type=int, default=None, help="fan-out events, one at a time (default 5, quick 2)")
    ap.add_argument("--no-baseline", action="store_true", help="the API alone")
    ap.add_argument("--no-requests", action="store_true", help="fan-out only")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (server logs)")
    args = ap.parse_args(argv)
    args.seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 1.0)
    args.subscribers = args.subscribers if args.subscribers is not None else (200 if args.quick else 1_000)
    args.events = args.events if args.events is not None else (2 if args.quick else 5)
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]

    result: dict[str, Any] = {
        "api_version": code_version("graphql_api", "mirror_common", "bench/api"),
        "conditions_start": conditions(),
        "workers": args.workers,
        "mirrors": args.mirrors,
        "seconds": args.seconds,
        "warmup": args.warmup,
    }
    with work_directory("bench-api-", args.keep) as work, contextlib.ExitStack() as running:
        binary = build_loadgen()
        say("services: throwaway PostgreSQL and Redis")
        pg = Postgres().start()
        running.callback(pg.stop, remove=True)
        rd = Redis().start()
        running.callback(rd.stop, remove=True)
        database_url, addresses = asyncio.run(create_database(pg, max(args.mirrors, 100)))
        say(f"data: {len(addresses)} mirrors seeded")
        api = api_server(database_url, rd.url, work, args.workers).start()
        running.callback(api.stop)
        baseline = None if args.no_baseline or args.no_requests else baseline_server(database_url, rd.url, work, args.workers).start()
        if baseline is not None:
            running.callback(baseline.stop)
        for s in (api, baseline):
            if s is not None:
                s.wait_up()
        if not args.no_requests:
            say(f"requests: {', '.join(map(str, args.clients))} clients, {args.seconds} s each")
            result["throughput"] = throughput(args, binary, api, baseline, work, addresses[0])
        if baseline is not None:
            baseline.stop()  # its idle process must not share the cores with the API's fan-out
        if args.subscribers > 0:
            plain = None if args.no_baseline else baseline_server(database_url, rd.url, work, args.workers).start()
            if plain is not None:
                running.callback(plain.stop)
                plain.wait_up()
                result["fanout_same_json"] = uvloop.run(same_next(api, plain, database_url, rd.url, addresses[0]))
                plain.stop()
            say(f"fan-out: {args.subscribers} subscribers, {args.events} events")
            result["fanout"] = uvloop.run(fanout(api, binary, database_url, rd.url, addresses[0], args.subscribers, args.events))
            if plain is not None:
                say("fan-out, plain: the same against the baseline's WebSocket (the API stopped meanwhile)")
                api.stop()
                plain.start()
                plain.wait_up()
                result["fanout_baseline"] = uvloop.run(
                    fanout(plain, binary, database_url, rd.url, addresses[0], args.subscribers, args.events)
                )
        result["conditions_end"] = conditions()
        publish(result, report(result), args.json)
        return 0


if __name__ == "__main__":
    sys.exit(main())
