"""No transaction anyone can send stops the indexer (issue: hardening).

- The report, replayed: grants that expire at i64::MAX and in the year 10,000 are stored
  losslessly (raw seconds beside an `infinity` timestamptz), and every later transaction
  of every user is indexed; reconcile finds no drift.
- The poison-pill breaker: a handler that always fails for one event (in process), and a
  database that refuses one row (a real `python -m indexer` process): the transaction is
  retried a bounded number of times, recorded as apply_error, counted, logged as an alert,
  and everything after it is indexed; once the fault is gone, `--retry-skipped` applies it.
- Errors are classified by cause: only connection-level failures count as "PostgreSQL
  unavailable" (checked against a real server and a closed port).
"""

from __future__ import annotations

import asyncio
import errno
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from indexer import apply
from indexer.apply import PROJECTIONS, Handler, Projection
from indexer.decode import Event
from indexer.reconcile import reconcile
from indexer.service import Indexer, IndexerConfig
from mirror_common.config import MIRROR_PROGRAM_ID, REPO_ROOT
from mirror_common.localnet import Localnet
from mirror_common.pg_errors import is_connection_error
from mirror_common.services import Postgres, Redis, free_port
from tests.conftest import funded
from tests.indexer_support import IndexerProcess, MirrorLife, assert_exactly_the_chain, eventually

I64_MAX = 2**63 - 1
YEAR_10_000 = 253402300800


async def test_the_reported_expiries_are_stored_losslessly_and_indexing_goes_on(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    life = MirrorLife(rpc, trainer)
    owner, other = await funded(rpc, 2), await funded(rpc, 2)
    mirror = await life.create(owner, 7001, "Forever")
    forever = await life.grant(owner, mirror, Keypair().pubkey(), 1, expires_at=I64_MAX)
    year_10k = await life.grant(owner, mirror, Keypair().pubkey(), 3, expires_at=YEAR_10_000)
    indexer = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    db = await asyncpg.connect(database)
    try:
        # Another user's transactions after the hostile ones are indexed too.
        later = await life.create(other, 7002, "After")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(later)), 30, "a later mirror indexed")
        rows = {
            r["address"]: r
            for r in await db.fetch(
                "SELECT address, expires_at_unix, expires_at::text AS expires_at FROM access_grants WHERE mirror = $1", str(mirror)
            )
        }
        assert rows[str(forever)]["expires_at_unix"] == I64_MAX and rows[str(forever)]["expires_at"] == "infinity"
        assert rows[str(year_10k)]["expires_at_unix"] == YEAR_10_000 and rows[str(year_10k)]["expires_at"] == "infinity"
        assert await db.fetchval("SELECT count(*) FROM skipped_items") == 0
        # Analysts' views still answer (an infinite expiry is simply live).
        assert await db.fetchval("SELECT live_grants FROM analytics.grants_per_mirror WHERE mirror = $1", str(mirror)) == 2
        await assert_exactly_the_chain(database, localnet.rpc_url)
        assert indexer.alive(), indexer.log()
        assert "postgres_unavailable" not in indexer.log()
    finally:
        indexer.stop()
        await db.close()


# --- the breaker, in process: a handler that always fails for one event ---------------------


def _refuses(name: str) -> Handler:
    """MirrorUpdated's own statement, with arguments that raise for one name: a bug in a mapping."""
    original = apply.mirror_updated

    def args(ev: Event) -> tuple[Any, ...]:
        if ev.fields["name"] == name:
            raise RuntimeError(f"handler bug on {name!r}")
        return original.args(ev)

    return Handler(original.sql, args)


@pytest.fixture
async def running_indexer(localnet: Localnet, database: str, redis_server: Redis) -> AsyncIterator[Indexer]:
    ix = Indexer(IndexerConfig(localnet.rpc_url, localnet.ws_url, MIRROR_PROGRAM_ID, database, redis_server.url))
    task = asyncio.create_task(ix.run())
    await asyncio.wait_for(ix.live_ready.wait(), 60)
    yield ix
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_handler_that_always_fails_for_one_event_is_skipped_then_retried(
    rpc: AsyncClient, trainer: Keypair, running_indexer: Indexer, monkeypatch: pytest.MonkeyPatch
) -> None:
    ix = running_indexer
    assert ix.pool is not None
    monkeypatch.setitem(PROJECTIONS, "MirrorUpdated", (Projection("mirrors", "mirror", _refuses("poison")),))
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    poisoned = await life.create(owner, 7101, "Before")
    await life.update(owner, poisoned, "poison")
    after = [await life.create(owner, 7102 + i, f"After{i}") for i in range(3)]
    await life.update(owner, after[0], "fine")

    async def caught_up() -> bool:
        async with ix.pool.acquire() as c:  # type: ignore[union-attr]
            return await c.fetchval("SELECT name FROM mirrors WHERE address = $1", str(after[0])) == "fine"

    await eventually(caught_up, 30, "the transactions after the poisoned one")
    async with ix.pool.acquire() as c:
        skip = await c.fetchrow("SELECT * FROM skipped_items WHERE reason = 'apply_error'")
        assert skip is not None and "handler bug on 'poison'" in skip["detail"] and skip["resolved_at"] is None
        assert await c.fetchval("SELECT name FROM mirrors WHERE address = $1", str(poisoned)) == "Before"
        assert await c.fetchval("SELECT count(*) FROM mirrors WHERE address = ANY($1::text[])", [str(a) for a in after]) == 3
    assert ix.metrics.poisoned._value.get() == 1
    assert ix.metrics.skipped.labels("apply_error")._value.get() == 1

    # The fault is fixed: the recorded transaction is applied, once.
    monkeypatch.undo()
    report = await ix.retry_skipped()
    assert report.resolved == 1 and report.still_failing == [] and report.unavailable == 0
    async with ix.pool.acquire() as c:
        assert await c.fetchval("SELECT name FROM mirrors WHERE address = $1", str(poisoned)) == "poison"
        assert await c.fetchval("SELECT resolved_at IS NOT NULL FROM skipped_items WHERE id = $1", skip["id"])
    assert (await ix.retry_skipped()).resolved == 0
    report = await reconcile(ix.pool, ix.rpc, MIRROR_PROGRAM_ID)
    assert [d for d in report.drift if d.address in {str(poisoned), *map(str, after)}] == []


# --- the breaker, as a process: a database that refuses one row -----------------------------


async def test_a_row_the_database_refuses_is_skipped_and_retry_skipped_applies_it(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    db = await asyncpg.connect(database)
    await db.execute("""
        CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.name = 'refused-row' THEN RAISE EXCEPTION 'refused for the test: %', NEW.address; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_poison BEFORE UPDATE ON mirrors FOR EACH ROW EXECUTE FUNCTION refuse_poison();""")
    indexer = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    try:
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 2)
        poisoned = await life.create(owner, 7201, "Before")
        await life.update(owner, poisoned, "refused-row")
        later = await life.create(owner, 7202, "Later")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(later)), 30, "the later mirror")
        skip = await eventually(lambda: db.fetchrow("SELECT * FROM skipped_items WHERE reason = 'apply_error'"), 10, "the skip")
        assert "refused for the test" in skip["detail"]
        lines = [json.loads(line) for line in indexer.log().splitlines() if line.startswith("{")]
        alerts = [line for line in lines if line.get("event") == "transaction_skipped"]
        assert len(alerts) == 1, [(a["signature"], a["events"], a["error"]) for a in alerts]
        assert alerts[0]["alert"] is True and alerts[0]["signature"] == skip["signature"]
        assert alerts[0]["attempts"] >= 2 and "--retry-skipped" in alerts[0]["action"]
        assert not any(line.get("event") == "postgres_unavailable" for line in lines)
        assert indexer.alive()

        # Still refused: the command says so and leaves the item open.
        failing = _retry_skipped_cli(localnet.rpc_url, database)
        assert failing.returncode == 1, failing.stderr
        assert json.loads(failing.stdout.splitlines()[-1])["still_failing"] == 1

        await db.execute("DROP TRIGGER refuse_poison ON mirrors")
        fixed = _retry_skipped_cli(localnet.rpc_url, database)
        assert fixed.returncode == 0, fixed.stderr
        assert json.loads(fixed.stdout.splitlines()[-1])["resolved"] == 1
        assert await db.fetchval("SELECT name FROM mirrors WHERE address = $1", str(poisoned)) == "refused-row"
        await assert_exactly_the_chain(database, localnet.rpc_url)
    finally:
        indexer.stop()
        await db.close()


def _retry_skipped_cli(rpc_url: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"MIRROR_RPC_URL": rpc_url, "MIRROR_WS_URL": "", "DATABASE_URL": database_url, "INDEXER_LOG_JSON": "true"}
    return subprocess.run(
        [sys.executable, "-m", "indexer", "--retry-skipped"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, **env},
    )


# --- classification ----------------------------------------------------------------------------


async def test_only_connection_failures_count_as_postgres_unavailable(postgres: Postgres) -> None:
    with pytest.raises(Exception) as refused_port:
        await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres", timeout=5)
    assert is_connection_error(refused_port.value)

    conn = await asyncpg.connect(postgres.url)
    try:
        for bad in ("SELECT 'x'::int", "SELECT to_timestamp(1e300)", "SELECT 9223372036854775807::bigint + 1"):
            with pytest.raises(asyncpg.PostgresError) as refused:
                await conn.fetchval(bad)
            assert not is_connection_error(refused.value), bad
        killer = await asyncpg.connect(postgres.url)
        await killer.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
        await killer.close()
        await asyncio.sleep(0.5)  # let the server's termination notice arrive first
        with pytest.raises(Exception) as dropped:
            await conn.fetchval("SELECT 1")
        assert is_connection_error(dropped.value), repr(dropped.value)
    finally:
        await conn.close()

    # What the report saw: a date too large for the platform is no outage.
    assert not is_connection_error(OSError(errno.EOVERFLOW, "Value too large for defined data type"))
    assert not is_connection_error(ValueError("year 10000 is out of range"))
    assert is_connection_error(ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"))
