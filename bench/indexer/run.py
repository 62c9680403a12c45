"""Indexer benchmark: backfill throughput beside a raw COPY, and live latency.

    python -m bench.indexer                 # 100,000 events (ledger cached under .data/bench/)
    python -m bench.indexer --quick         # 5,000 events, 5 s of live traffic
    python -m bench.indexer --events 300 --live-seconds 1 --no-cache --json out.json

Prints figures; asserts nothing about time. See bench/indexer/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/indexer/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg
import redis.asyncio as aioredis
import websockets

from bench.common import code_version, conditions, pct, publish, say, work_directory
from bench.indexer.load import LoadPlan, Progress, Sender, live_transactions, load
from mirror_common.config import MIRROR_PROGRAM_ID, REPO_ROOT, default_cargo_target_dir, settings
from mirror_common.localnet import Localnet, LocalnetError
from mirror_common.services import IndexerProcess, Postgres, Redis

GOAL_BACKFILL_EVENTS_PER_S = 5_000
GOAL_LIVE_P99_MS = 50.0
PROJECTIONS = ("config", "trainers", "mirrors", "access_grants", "training_jobs", "model_versions")
CACHE_DIR = REPO_ROOT / ".data" / "bench"


def default_binary() -> Path:
    """MIRROR_LOCALNET_BIN when set (as for every other node the tests start), else the release
    build if there is one, else debug."""
    chosen = settings().mirror_localnet_bin
    if chosen is not None:
        return chosen
    target = default_cargo_target_dir()
    release = target / "release" / "mirror-localnet"
    return release if release.exists() else target / "debug" / "mirror-localnet"


# --- 1. the chain -----------------------------------------------------------------


async def _load_and_report(node: Localnet, events: int) -> LoadPlan:
    plan = await load(node.rpc_url, events)
    say(
        f"  loaded {plan.events:,} events in {plan.transactions:,} transactions in {plan.seconds:.1f}s "
        f"({plan.events / max(plan.seconds, 1e-9):,.0f} events/s)"
    )
    return plan


def prepare_chain(args: argparse.Namespace, work: Path) -> tuple[Localnet, LoadPlan, bool]:
    """A running node holding the load; from the cache when there is one."""
    ledger = work / "ledger"
    cache = None if args.no_cache else Path(args.cache_dir) / f"indexer-ledger-{args.events}"

    def node() -> Localnet:
        return Localnet(
            slot_ms=400, finality_depth=4, bootstrap=True, ledger_dir=ledger, binary=args.binary, log_path=work / "localnet.log"
        )

    if cache is not None and (cache / "plan.json").exists():
        say(f"chain: reusing the cached ledger {cache}")
        shutil.copytree(cache / "ledger", ledger)
        n = node()
        try:
            n.start(timeout=300)
            return n, LoadPlan.read(cache / "plan.json"), True
        except LocalnetError as e:
            say(f"  cached ledger unusable ({e}); loading afresh")
            n.stop()
            shutil.rmtree(ledger, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
    say(f"chain: mirror-localnet ({args.binary}), loading {args.events:,} events")
    n = node().start()
    plan = asyncio.run(_load_and_report(n, args.events))
    if cache is not None:
        n.stop()  # SIGTERM: a clean ledger to copy
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        shutil.copytree(ledger, tmp / "ledger")
        plan.save(tmp / "plan.json")
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
        say(f"  cached in {cache}")
        n.start(timeout=300)
    return n, plan, False


# --- 2. backfill and COPY ---------------------------------------------------------


async def create_database(pg: Postgres, name: str) -> str:
    from indexer.migrate import migrate

    conn = await asyncpg.connect(pg.url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = pg.url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url


async def alter_system(url: str, name: str, value: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"ALTER SYSTEM SET {name} = {value}")
    finally:
        await conn.close()


async def backfill(rpc_url: str, database_url: str, redis_url: str, batch: int) -> dict[str, Any]:
    """The indexer's own catch_up (source -> decode -> apply -> commit) from an empty cursor
    to the chain head, in this process, with decode_tx and commit_batch timed."""
    import indexer.service as service
    from indexer.metrics import Metrics
    from mirror_common.pg import create_pool

    timing: dict[str, float] = {"decode_s": 0.0, "commit_s": 0.0, "transactions": 0, "events": 0, "batches": 0}
    real_decode, real_commit = service.decode_tx, service.commit_batch

    def timed_decode(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return real_decode(*a, **kw)
        finally:
            timing["decode_s"] += time.perf_counter() - t
            timing["transactions"] += 1

    async def timed_commit(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        stored = await real_commit(*a, **kw)
        timing["commit_s"] += time.perf_counter() - t
        timing["events"] += len(stored)
        timing["batches"] += 1
        return stored

    # Every statement the indexer sends, by its text's start: count and time (round trip included).
    statements: dict[str, list[float]] = {}
    patched = {
        m: getattr(asyncpg.connection.Connection, m)
        for m in ("execute", "executemany", "fetch", "fetchval", "fetchrow", "copy_records_to_table")
    }

    def counting(real: Any) -> Any:
        async def call(self: Any, query: str, *a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return await real(self, query, *a, **kw)
            finally:
                entry = statements.setdefault(" ".join(query.split())[:72], [0, 0.0])
                entry[0] += 1
                entry[1] += time.perf_counter() - t

        return call

    metrics = Metrics()
    cfg = service.IndexerConfig(rpc_url, "", MIRROR_PROGRAM_ID, database_url, redis_url, backfill_batch=batch)
    ix = service.Indexer(cfg, metrics)
    ix.pool = await create_pool(database_url)
    service.decode_tx, service.commit_batch = timed_decode, timed_commit  # type: ignore[assignment]
    for m, real in patched.items():
        setattr(asyncpg.connection.Connection, m, counting(real))
    progress = Progress(1, "backfill transactions")

    async def show() -> None:
        while True:
            await asyncio.sleep(0.25 if progress.tty else 5.0)
            progress.total = int(metrics.registry.get_sample_value("mirror_indexer_backfill_total") or 1)
            progress.done = int(timing["transactions"])
            progress.show()

    shower = asyncio.create_task(show())
    try:
        started = time.perf_counter()
        stored = await ix.catch_up()
        seconds = time.perf_counter() - started
    finally:
        shower.cancel()
        service.decode_tx, service.commit_batch = real_decode, real_commit  # type: ignore[assignment]
        for m, real in patched.items():
            setattr(asyncpg.connection.Connection, m, real)
        await ix.close()
    progress.total = progress.done = int(timing["transactions"])
    progress.show(final=True)
    rest = seconds - timing["decode_s"] - timing["commit_s"]
    return {
        "events": stored,
        "transactions": timing["transactions"],
        "seconds": seconds,
        "events_per_s": stored / seconds if seconds else 0.0,
        "batch": batch,
        "commit_batches": timing["batches"],
        "decode_s": timing["decode_s"],
        "commit_s": timing["commit_s"],
        "fetch_and_other_s": rest,
        "statements": sum(n for n, _ in statements.values()),
        "statements_by_text": sorted(([q, n, t] for q, (n, t) in statements.items()), key=lambda x: -x[2]),
    }


async def table_rows(database_url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row the indexer wrote to chain_events and the projections (columns, records)."""
    from mirror_common.pg import init_connection

    conn = await asyncpg.connect(database_url)
    await init_connection(conn)
    try:
        out = {}
        for table in ("chain_events", *PROJECTIONS):
            cols = [
                r["attname"]
                for r in await conn.fetch(
                    """SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
                   AND attidentity = '' ORDER BY attnum""",
                    table,
                )
            ]
            rows = await conn.fetch(f"SELECT {', '.join(cols)} FROM {table} ORDER BY 1")
            out[table] = (cols, [tuple(r) for r in rows])
        return out
    finally:
        await conn.close()


async def copy_baseline(database_url: str, rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> dict[str, Any]:
    """The same rows into the same tables (same indexes, fresh database) with COPY, one transaction."""
    conn = await asyncpg.connect(database_url)
    # COPY is binary: jsonb's binary form is a version byte, then the text.
    await conn.set_type_codec(
        "jsonb",
        schema="pg_catalog",
        format="binary",
        encoder=lambda v: b"\x01" + json.dumps(v).encode(),
        decoder=lambda b: json.loads(b[1:]),
    )
    try:
        started = time.perf_counter()
        async with conn.transaction():
            for table, (cols, records) in rows.items():
                if records:
                    await conn.copy_records_to_table(table, records=records, columns=cols)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    events = len(rows["chain_events"][1])
    return {
        "events": events,
        "rows": sum(len(r) for _, r in rows.values()),
        "seconds": seconds,
        "events_per_s": events / seconds if seconds else 0.0,
    }


async def check_complete(database_url: str, plan: LoadPlan) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        by_name = {r["name"]: r["n"] for r in await conn.fetch("SELECT name, count(*) AS n FROM chain_events GROUP BY name")}
        skipped = await conn.fetchval("SELECT count(*) FROM skipped_items")
        dup = await conn.fetchval("SELECT count(*) - count(DISTINCT (signature, event_index)) FROM chain_events")
    finally:
        await conn.close()
    missing = {k: v - by_name.get(k, 0) for k, v in plan.by_event.items() if by_name.get(k, 0) < v}
    return {
        "by_event": by_name,
        "skipped_items": skipped,
        "duplicates": dup,
        "missing": missing,
        "complete": not missing and skipped == 0 and dup == 0,
    }


# --- 3. live latency --------------------------------------------------------------


async def wait_for(what: str, check: Any, timeout: float, proc: IndexerProcess, already: float = 0.0) -> float | None:
    """Seconds since the process started (``already`` of them spent before this call)."""
    started = time.monotonic() - already
    while time.monotonic() - started < timeout:
        if not proc.alive():
            raise RuntimeError(f"the indexer exited while waiting for {what}; log: {proc.log_path}")
        if await check():
            return round(time.monotonic() - started, 2)
        await asyncio.sleep(0.1)
    say(f"  gave up waiting for {what} after {timeout:.0f}s")
    return None


async def live(
    node: Localnet,
    plan: LoadPlan,
    database_url: str,
    redis_url: str,
    rate: float,
    seconds: float,
    work: Path,
    stat_statements: bool = False,
) -> dict[str, Any]:
    proc = IndexerProcess(node.rpc_url, database_url, redis_url, work / "indexer.log", stop_signal=signal.SIGINT).start()
    conn = await asyncpg.connect(database_url)
    out: dict[str, Any] = {"rate": rate, "seconds": seconds}
    try:

        async def is_live() -> bool:
            return proc.is_live()

        async def published() -> bool:
            return bool(
                await conn.fetchval(
                    "SELECT coalesce((SELECT last_event_id FROM publish_cursor WHERE name = 'redis'), 0) >= coalesce(max(id), 0)"
                    " FROM chain_events"
                )
            )

        async def finalized() -> bool:
            return not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM chain_events WHERE commitment = 'confirmed')")

        backlog = await conn.fetchval("SELECT count(*) FROM chain_events")
        say(f"live: indexer process started; waiting until it is live and has published and finalized the {backlog:,} backfilled events")
        # Times from the process start (python start-up and migrate included); the three run concurrently.
        t = out["start_to_live_s"] = await wait_for("the indexer to go live", is_live, 120, proc)
        if t is not None:
            t = out["publish_drain_s"] = await wait_for("the publisher to drain", published, 900, proc, t)
        if t is not None:
            t = out["finalize_drain_s"] = await wait_for("finality to catch up", finalized, 900, proc, t)
        say(
            f"  live after {out['start_to_live_s']}s, backlog published to Redis after {out.get('publish_drain_s')}s, "
            f"marked finalized after {out.get('finalize_drain_s')}s (from process start)"
        )
        if stat_statements:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            await conn.execute("SELECT pg_stat_statements_reset()")
        out.update(await _live_traffic(node, plan, conn, redis_url, rate, seconds))
        if stat_statements:
            rows = await conn.fetch(
                """SELECT calls, total_exec_time, mean_exec_time, regexp_replace(query, '\\s+', ' ', 'g') AS q
                   FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                   AND query NOT ILIKE '%pg_stat_statements%' AND query NOT ILIKE '%pg_xact_commit_timestamp%'
                   ORDER BY total_exec_time DESC LIMIT 40"""
            )
            out["server_statements"] = [[r["q"][:72], r["calls"], r["total_exec_time"], r["mean_exec_time"]] for r in rows]
        out["indexer_alive"] = proc.alive()
    finally:
        await conn.close()
        proc.stop()
    return out


async def _live_traffic(
    node: Localnet, plan: LoadPlan, conn: asyncpg.Connection, redis_url: str, rate: float, seconds: float
) -> dict[str, Any]:
    count = max(1, int(rate * seconds))
    sender = Sender(node.rpc_url, concurrency=32, per_request=1)
    redis = aioredis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe("mirror:events")
    sent_at: dict[str, float] = {}  # signature -> time.time() of the sendTransaction request
    replied_at: dict[str, float] = {}  # ... of its reply (execution confirmed, ledger fsync'd)
    committed_at: dict[str, float] = {}  # ... of the commit of its first event row (track_commit_timestamp)
    redis_at: dict[str, float] = {}  # ... of its first message on mirror:events
    notified_at: dict[str, float] = {}  # ... of its logsNotification to a subscriber of our own (what the indexer waits for)
    errors: list[Any] = []
    start_id = await conn.fetchval("SELECT coalesce(max(id), 0) FROM chain_events")
    stop = asyncio.Event()

    async def read_redis() -> None:
        while not stop.is_set():
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if msg is None:
                continue
            now = time.time()
            sig = json.loads(msg["data"])["signature"]
            redis_at.setdefault(sig, now)

    ws = await websockets.connect(node.ws_url, max_size=None)
    await ws.send(
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "logsSubscribe",
                "params": [{"mentions": [MIRROR_PROGRAM_ID]}, {"commitment": "confirmed"}],
            }
        )
    )
    json.loads(await ws.recv())

    async def read_notifications() -> None:
        async for message in ws:
            now = time.time()
            msg = json.loads(message)
            if msg.get("method") == "logsNotification":
                notified_at.setdefault(msg["params"]["result"]["value"]["signature"], now)

    async def poll_commits() -> None:
        # Rows are read while still 'confirmed': finality rewrites them (new xmin) slots later.
        last = start_id
        while not stop.is_set():
            rows = await conn.fetch(
                """SELECT id, signature, extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 AS ct
                   FROM chain_events WHERE id > $1 ORDER BY id""",
                last,
            )
            for r in rows:
                last = r["id"]
                if r["ct"] is not None:
                    committed_at.setdefault(r["signature"], r["ct"])
            await asyncio.sleep(0.05)

    async def send_one(raw: bytes) -> None:
        t0 = time.time()
        (reply,) = await sender.send_transactions([raw])
        t1 = time.time()
        if isinstance(reply, dict):
            errors.append(reply)
            return
        sent_at[reply] = t0
        replied_at[reply] = t1

    txs = live_transactions(plan, count, await sender.blockhash())
    say(
        f"  sending {count:,} one-instruction transactions at {rate:g} tx/s for {seconds:g}s "
        f"(update, grant, request_training, create in turn)"
    )
    readers = [asyncio.create_task(read_redis()), asyncio.create_task(poll_commits()), asyncio.create_task(read_notifications())]
    sends: list[asyncio.Task[None]] = []
    began = time.monotonic()
    for i, (_, raw) in enumerate(txs):
        delay = began + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sends.append(asyncio.create_task(send_one(raw)))
    await asyncio.gather(*sends)
    send_seconds = time.monotonic() - began
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (set(replied_at) - set(committed_at) or set(replied_at) - set(redis_at)):
        await asyncio.sleep(0.1)
    stop.set()
    await ws.close()
    await asyncio.gather(*readers, return_exceptions=True)
    await pubsub.aclose()
    await redis.aclose()
    await sender.close()

    def stats(seen: dict[str, float], since: dict[str, float]) -> dict[str, Any]:
        ms = [1000 * (seen[s] - since[s]) for s in since if s in seen]
        return {
            "n": len(ms),
            "missing": len(since) - len(ms),
            "p50_ms": pct(ms, 50),
            "p90_ms": pct(ms, 90),
            "p99_ms": pct(ms, 99),
            "max_ms": max(ms) if ms else float("nan"),
            "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        }

    rtt = [1000 * (replied_at[s] - sent_at[s]) for s in replied_at]
    return {
        "sent": count,
        "refused": len(errors),
        "first_refusal": errors[0] if errors else None,  # the node's error, for a run that had any
        "achieved_tx_per_s": count / send_seconds,
        "send_reply_ms": {"p50": pct(rtt, 50), "p99": pct(rtt, 99)},
        "reply_to_commit": stats(committed_at, replied_at),
        "reply_to_redis": stats(redis_at, replied_at),
        "send_to_commit": stats(committed_at, sent_at),
        "reply_to_notification": stats(notified_at, replied_at),
        "notification_to_commit": stats(committed_at, notified_at),
    }


# --- the whole run ----------------------------------------------------------------


def fmt_ms(v: float) -> str:
    return f"{v:.1f} ms" if v == v else "n/a"


def report(r: dict[str, Any]) -> str:
    b, c, chk = r["backfill"], r["copy"], r["completeness"]
    lines = [
        "",
        "== indexer benchmark ==",
        f"conditions: {r['conditions_start']['cpus']} CPUs, load average {r['conditions_start']['loadavg']} at start, "
        f"{r['conditions_end']['loadavg']} at end; "
        f"node {Path(r['binary']).parent.name} build; PostgreSQL fsync={'on' if r['pg_fsync'] else 'off'}",
        f"indexer code: {r['indexer_version']}",
        f"chain: {r['load']['events']:,} load events in {r['load']['transactions']:,} transactions"
        + (" (cached ledger)" if r["load"]["cached"] else f", loaded at {r['load']['events_per_s']:,.0f} events/s"),
        f"complete: {'yes' if chk['complete'] else 'NO'} ({sum(chk['by_event'].values()):,} rows in chain_events, "
        f"{chk['skipped_items']} skipped, {chk['duplicates']} duplicates{', missing ' + str(chk['missing']) if chk['missing'] else ''})",
        "",
        f"backfill (indexer catch_up, batch {b['batch']}): {b['events']:,} events, "
        f"{b['transactions']:,} transactions in {b['seconds']:.1f}s",
        f"  = {b['events_per_s']:,.0f} events/s   "
        f"goal >= {GOAL_BACKFILL_EVENTS_PER_S:,}: {'met' if b['events_per_s'] >= GOAL_BACKFILL_EVENTS_PER_S else 'NOT met'}",
        f"  where the time went: commit_batch {b['commit_s']:.1f}s ({100 * b['commit_s'] / b['seconds']:.0f}%), "
        f"decode_tx {b['decode_s']:.1f}s ({100 * b['decode_s'] / b['seconds']:.0f}%), "
        f"RPC fetch and the rest {b['fetch_and_other_s']:.1f}s ({100 * b['fetch_and_other_s'] / b['seconds']:.0f}%)",
        f"  commit alone: {b['events'] / b['commit_s'] if b['commit_s'] else 0:,.0f} events/s; "
        f"{b['statements']:,} SQL statements ({b['statements'] / max(b['events'], 1):.2f} per event, one round trip each, "
        f"{sum(t for _, _, t in b['statements_by_text']):.1f}s in all); the costliest:",
        *[f"    {t:7.2f}s {n:>8,}x {1e6 * t / max(n, 1):6.0f} us  {q}" for q, n, t in b["statements_by_text"][:6]],
        f"COPY baseline (same rows, same tables and indexes, one transaction): "
        f"{c['rows']:,} rows in {c['seconds']:.2f}s = {c['events_per_s']:,.0f} events/s",
        f"  ratio indexer / COPY = {b['events_per_s'] / c['events_per_s'] if c['events_per_s'] else 0:.3f}"
        f" (COPY is {c['events_per_s'] / b['events_per_s'] if b['events_per_s'] else 0:.0f}x faster)",
    ]
    lv = r.get("live")
    if lv:
        rc, rr = lv["reply_to_commit"], lv["reply_to_redis"]
        lines += [
            "",
            f"live ({lv['sent']:,} tx at {lv['achieved_tx_per_s']:.0f} tx/s achieved, {lv['refused']} refused; "
            f"sendTransaction round trip p50 {fmt_ms(lv['send_reply_ms']['p50'])}):",
            f"  confirmation -> row committed: p50 {fmt_ms(rc['p50_ms'])}  p90 {fmt_ms(rc['p90_ms'])}  p99 {fmt_ms(rc['p99_ms'])}  "
            f"max {fmt_ms(rc['max_ms'])}  ({rc['n']} seen, {rc['missing']} missing)   goal p99 < {GOAL_LIVE_P99_MS:g} ms: "
            f"{'met' if rc['p99_ms'] < GOAL_LIVE_P99_MS else 'NOT met'}",
            f"  confirmation -> Redis mirror:events: p50 {fmt_ms(rr['p50_ms'])}  p90 {fmt_ms(rr['p90_ms'])}  p99 {fmt_ms(rr['p99_ms'])}  "
            f"max {fmt_ms(rr['max_ms'])}  ({rr['n']} seen, {rr['missing']} missing)",
            f"  split: confirmation -> logsNotification at a subscriber: p50 {fmt_ms(lv['reply_to_notification']['p50_ms'])}  "
            f"p99 {fmt_ms(lv['reply_to_notification']['p99_ms'])};  logsNotification -> row committed (the indexer): "
            f"p50 {fmt_ms(lv['notification_to_commit']['p50_ms'])}  p99 {fmt_ms(lv['notification_to_commit']['p99_ms'])}",
            f"  sendTransaction request -> row committed (node execution and ledger fsync included): "
            f"p50 {fmt_ms(lv['send_to_commit']['p50_ms'])}  p99 {fmt_ms(lv['send_to_commit']['p99_ms'])}",
        ]
        if lv.get("server_statements"):
            lines.append("  PostgreSQL's own time per statement during the traffic (pg_stat_statements, all clients of the database):")
            lines += [
                f"    {total / 1000:6.2f}s {calls:>7,}x {1000 * mean:7.0f} us  {q}" for q, calls, total, mean in lv["server_statements"][:6]
            ]
        lines.append(
            f"  (before the traffic, `python -m indexer` on the backfilled database: live {lv.get('start_to_live_s')}s, "
            f"{b['events']:,}-event backlog published to Redis {lv.get('publish_drain_s')}s and marked finalized "
            f"{lv.get('finalize_drain_s')}s after its start)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.indexer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000, help="Mirror events to put on chain (default 100,000)")
    ap.add_argument("--quick", action="store_true", help="5,000 events and 5 s of live traffic")
    ap.add_argument(
        "--binary",
        type=Path,
        default=None,
        help="mirror-localnet binary (default: MIRROR_LOCALNET_BIN, else the release build if there is one, else debug)",
    )
    ap.add_argument(
        "--backfill-batch",
        type=int,
        default=100,
        help="getTransaction calls per RPC batch = transactions per commit (the indexer's default)",
    )
    ap.add_argument("--live-rate", type=float, default=200.0, help="live transactions per second")
    ap.add_argument("--live-seconds", type=float, default=None, help="live traffic duration (default 10, quick 5)")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--pg-fsync", choices=("on", "off"), default="on", help="PostgreSQL fsync (default on, as in production)")
    ap.add_argument("--cache-dir", default=str(CACHE_DIR), help="where loaded ledgers are cached, keyed by event count")
    ap.add_argument("--no-cache", action="store_true", help="always load a fresh ledger, cache nothing")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the working directory (logs, ledger) for inspection")
    args = ap.parse_args(argv)
    if args.quick and args.events == 100_000:
        args.events = 5_000
    if args.live_seconds is None:
        args.live_seconds = 5.0 if args.quick else 10.0
    args.binary = args.binary or default_binary()

    result: dict[str, Any] = {
        "indexer_version": code_version("indexer", "sql", "mirror_common"),
        "binary": str(args.binary),
        "pg_fsync": args.pg_fsync == "on",
        "conditions_start": conditions(),
    }
    with work_directory("bench-indexer-", args.keep) as work, contextlib.ExitStack() as running:
        node, plan, cached = prepare_chain(args, work)
        running.callback(node.stop)
        result["load"] = {
            "events": plan.events,
            "transactions": plan.transactions,
            "by_event": plan.by_event,
            "seconds": plan.seconds,
            "events_per_s": plan.events / plan.seconds if plan.seconds else 0,
            "cached": cached,
        }
        say("services: throwaway PostgreSQL (track_commit_timestamp on) and Redis")
        pg = Postgres(fsync=args.pg_fsync == "on").start()
        running.callback(pg.stop, remove=True)
        asyncio.run(alter_system(pg.url, "track_commit_timestamp", "on"))  # commit times of rows: the live latency
        stat_statements = (pg.bin / ".." / "lib" / "pg_stat_statements.so").exists()
        if stat_statements:  # server-side time per statement during the live traffic
            asyncio.run(alter_system(pg.url, "shared_preload_libraries", "'pg_stat_statements'"))
        pg.restart()
        rd = Redis().start()
        running.callback(rd.stop, remove=True)

        say("backfill: the indexer from an empty cursor to the chain head")
        db = asyncio.run(create_database(pg, "bench_backfill"))
        result["backfill"] = asyncio.run(backfill(node.rpc_url, db, rd.url, args.backfill_batch))
        result["completeness"] = asyncio.run(check_complete(db, plan))

        say("copy: the same rows with COPY into a fresh database")
        rows = asyncio.run(table_rows(db))
        copy_db = asyncio.run(create_database(pg, "bench_copy"))
        result["copy"] = asyncio.run(copy_baseline(copy_db, rows))
        del rows

        if not args.no_live:
            result["live"] = asyncio.run(live(node, plan, db, rd.url, args.live_rate, args.live_seconds, work, stat_statements))
        result["conditions_end"] = conditions()
        publish(result, report(result), args.json)
        return 0


if __name__ == "__main__":
    sys.exit(main())
