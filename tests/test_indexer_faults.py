"""Faults with real processes, each ending with the database holding exactly the
chain's events (none lost, none twice) and reconcile finding no drift:
kill -9 of the indexer mid-stream; the localnet killed and restarted under the
indexer (WebSocket dropped, reconnect with backoff, gap backfilled); PostgreSQL
restarted mid-stream; Redis down (events still committed, publishing resumes).
Plus reconcile itself: corrupted rows are reported and repaired."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from indexer.migrate import migrate
from indexer.reconcile import reconcile
from indexer.source import Rpc
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from mirror_common.pg import create_pool
from mirror_common.services import Postgres, Redis
from tests.conftest import funded
from tests.indexer_support import (
    IndexerProcess,
    MirrorLife,
    TcpProxy,
    Traffic,
    assert_exactly_the_chain,
    eventually,
    index_to_the_chain,
)

pytestmark = pytest.mark.slow


async def wallets(rpc: AsyncClient, n: int = 3) -> list[Keypair]:
    return [await funded(rpc, 5) for _ in range(n)]


async def test_kill_9_of_the_indexer_mid_stream_loses_and_repeats_nothing(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    indexer = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    traffic = Traffic(rpc, trainer, await wallets(rpc), base_id=1000)
    sender = asyncio.create_task(traffic.run(60, pause=0.15))
    db = await asyncpg.connect(database)
    try:
        await eventually(lambda: db.fetchval("SELECT count(*) FROM chain_events WHERE name = 'MirrorUpdated'"), 60, "events applied")
        for _ in range(3):
            await asyncio.sleep(0.7)
            indexer.kill()
            await asyncio.sleep(0.3)  # transactions keep coming while it is down
            indexer.start()
        assert not sender.done() and traffic.sent < 120, "the traffic ended before the last kill"
        await sender
        assert traffic.errors == [] and traffic.sent == 120
        await assert_exactly_the_chain(database, localnet.rpc_url)
        names = await db.fetchval("SELECT count(*) FROM mirrors WHERE name LIKE 'm1___-2'")
        assert names == 60
        assert indexer.alive(), indexer.log()
    finally:
        sender.cancel()
        indexer.stop()
        await db.close()


async def test_localnet_killed_and_restarted_under_the_indexer(
    trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", log_path=tmp_path / "node.log", slot_ms=100, finality_depth=2)
    node.start()
    indexer = IndexerProcess(node.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    try:
        client = AsyncClient(node.rpc_url, commitment=Confirmed)
        owners = await wallets(client, 2)
        await Traffic(client, trainer, owners, base_id=1).run(5)
        await assert_exactly_the_chain(database, node.rpc_url)
        await client.close()

        node.kill()  # the WebSocket drops; RPC refuses; the indexer backs off
        await asyncio.sleep(1.5)
        node.start()
        client = AsyncClient(node.rpc_url, commitment=Confirmed)
        await Traffic(client, trainer, owners, base_id=100).run(5)
        await assert_exactly_the_chain(database, node.rpc_url)
        await client.close()
        log = indexer.log()
        assert "reconnecting" in log and indexer.alive(), log[-3000:]
    finally:
        indexer.stop()
        node.stop()


async def test_postgres_restarted_mid_stream(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, redis_server: Redis, tmp_path: Path
) -> None:
    pg = Postgres(fsync=True)
    pg.start()
    try:
        await migrate(pg.url)
        indexer = IndexerProcess(localnet.rpc_url, pg.url, redis_server.url, tmp_path / "indexer.log").start()
        traffic = Traffic(rpc, trainer, await wallets(rpc), base_id=2000)
        sender = asyncio.create_task(traffic.run(40, pause=0.15))
        try:
            db = await asyncpg.connect(pg.url)
            await eventually(lambda: db.fetchval("SELECT count(*) FROM chain_events WHERE name = 'MirrorUpdated'"), 60, "events applied")
            await db.close()
            await asyncio.to_thread(pg.restart, "immediate")  # a crash: recovery on start
            await asyncio.sleep(1.0)
            await asyncio.to_thread(pg.restart, "fast")
            assert not sender.done(), "the traffic ended before the last restart"
            await sender
            assert traffic.errors == []
            await assert_exactly_the_chain(pg.url, localnet.rpc_url)
            assert indexer.alive() and "postgres_unavailable" in indexer.log(), indexer.log()[-3000:]
        finally:
            sender.cancel()
            indexer.stop()
    finally:
        pg.stop(remove=True)


async def test_redis_down_events_still_committed_and_publishing_resumes(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, tmp_path: Path
) -> None:
    redis = Redis()
    redis.start()
    indexer = IndexerProcess(localnet.rpc_url, database, redis.url, tmp_path / "indexer.log").start()
    life = MirrorLife(rpc, trainer)
    owner = (await wallets(rpc, 1))[0]
    db = await asyncpg.connect(database)
    try:
        await eventually(lambda: db.fetchval("SELECT count(*) FROM publish_cursor"), timeout=60, what="first publish")
        redis.stop(remove=False)
        mirror = await life.create(owner, 1, "While Redis is down")
        await life.update(owner, mirror, "Still down")
        # Committed without Redis.
        await eventually(
            lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1 AND name = 'Still down'", str(mirror)),
            what="rows committed while Redis is down",
        )
        pending = await db.fetchval(
            "SELECT count(*) FROM chain_events WHERE id > (SELECT last_event_id FROM publish_cursor) AND payload->>'mirror' = $1",
            str(mirror),
        )
        assert pending == 2

        redis.start()  # same port
        r = aioredis.from_url(redis.url)
        pubsub = r.pubsub()
        await pubsub.subscribe(f"mirror:events:{mirror}")
        got: list[dict] = []

        async def back() -> bool:
            while (m := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
                got.append(json.loads(m["data"]))
            return any(g["data"].get("name") == "Back" for g in got)

        # The subscription may come after the resumed publish: a new event proves publishing runs again,
        # and the watermark proves the backlog went out.
        await life.update(owner, mirror, "Back")
        await eventually(back, what="messages after Redis came back")
        assert got[-1]["name"] == "MirrorUpdated" and got[-1]["data"]["name"] == "Back"
        await eventually(
            lambda: db.fetchval("SELECT last_event_id = (SELECT max(id) FROM chain_events) FROM publish_cursor"), what="backlog published"
        )
        await pubsub.aclose()
        await r.aclose()
        assert "redis_unavailable" in indexer.log() and indexer.alive()
        await assert_exactly_the_chain(database, localnet.rpc_url)
    finally:
        indexer.stop()
        redis.stop(remove=True)
        await db.close()


async def test_reconcile_reports_and_repairs_corrupted_rows(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    life = MirrorLife(rpc, trainer)
    owner, grantee = (await wallets(rpc, 1))[0], Keypair()
    mirror = await life.create(owner, 1, "Reconciled")
    grant = await life.grant(owner, mirror, grantee.pubkey(), 1)
    job, model = await life.train(owner, mirror, 0, 1)
    await index_to_the_chain(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log")

    db = await asyncpg.connect(database)
    await db.execute("UPDATE mirrors SET name = 'tampered', job_count = 99, created_at = 'infinity' WHERE address = $1", str(mirror))
    await db.execute("UPDATE access_grants SET revoked_at = now(), revoked_at_unix = 1 WHERE address = $1", str(grant))
    await db.execute("UPDATE training_jobs SET status = 'Failed' WHERE address = $1", str(job))
    await db.execute("DELETE FROM model_versions WHERE address = $1", str(model))
    await db.execute(
        """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, created_at, updated_at,
                                created_at_unix, updated_at_unix, created_slot, created_signature, last_slot)
           VALUES ('Ghost1111111111111111111111111111111111111', 'x', 'x', 1, 'ghost', '', 'Public', 'Active', now(), now(),
                   0, 0, 0, '', 0)"""
    )
    pool = await create_pool(database)
    client = Rpc(localnet.rpc_url)
    try:
        report = await reconcile(pool, client, MIRROR_PROGRAM_ID)
        found = {(d.kind, d.table, d.address): d for d in report.drift}
        assert set(found) == {
            ("differs", "mirrors", str(mirror)),
            ("differs", "access_grants", str(grant)),
            ("differs", "training_jobs", str(job)),
            ("missing", "model_versions", str(model)),
            ("extra", "mirrors", "Ghost1111111111111111111111111111111111111"),
        }
        columns = found[("differs", "mirrors", str(mirror))].columns
        assert {c: columns[c] for c in ("name", "job_count")} == {"name": ("tampered", "Reconciled"), "job_count": (99, 1)}
        assert set(columns) == {"name", "job_count", "created_at"} and columns["created_at"][0] == "infinity"
        assert set(found[("differs", "access_grants", str(grant))].columns) == {"revoked_at", "revoked_at_unix"}
        assert set(found[("differs", "training_jobs", str(job))].columns) == {"status"}

        repaired = await reconcile(pool, client, MIRROR_PROGRAM_ID, repair=True)
        assert repaired.repaired == 5
        assert (await reconcile(pool, client, MIRROR_PROGRAM_ID)).drift == []
        assert await db.fetchval("SELECT name FROM mirrors WHERE address = $1", str(mirror)) == "Reconciled"
        assert await db.fetchval("SELECT created_at = chain_time(created_at_unix) FROM mirrors WHERE address = $1", str(mirror))
        assert await db.fetchval("SELECT model_cid FROM model_versions WHERE address = $1", str(model))
    finally:
        await client.close()
        await pool.close()
        await db.close()


@pytest.mark.parametrize("outage", ["websocket", "websocket_and_rpc"])
async def test_cut_off_from_the_node_while_transactions_keep_coming(
    outage: str, rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    """The WebSocket dropped (and, in the second case, every RPC call refused: an error
    storm) while the chain moves on: the indexer backs off, reconnects and backfills the gap."""
    ws = await TcpProxy(localnet.rpc_port + 1).start()
    http = await TcpProxy(localnet.rpc_port).start()
    indexer = IndexerProcess(f"http://127.0.0.1:{http.port}", database, redis_server.url, tmp_path / "indexer.log")
    indexer.env["MIRROR_WS_URL"] = f"ws://127.0.0.1:{ws.port}"
    indexer.start()
    db = await asyncpg.connect(database)
    try:
        owners = await wallets(rpc, 2)
        await Traffic(rpc, trainer, owners, base_id=1).run(2)
        await assert_exactly_the_chain(database, localnet.rpc_url)
        assert ws.accepted == 1

        ws.refuse = True
        ws.cut()
        if outage == "websocket_and_rpc":
            http.refuse = True
            http.cut()
        gap = Traffic(rpc, trainer, owners, base_id=100)
        await gap.run(5)  # sent straight to the node: only a backfill can find them
        await asyncio.sleep(1.5)
        mine = [str(o.pubkey()) for o in owners]
        assert await db.fetchval("SELECT count(*) FROM mirrors WHERE creator = ANY($1::text[]) AND mirror_id >= 100", mine) == 0
        ws.refuse = http.refuse = False
        await assert_exactly_the_chain(database, localnet.rpc_url)
        assert await db.fetchval("SELECT count(*) FROM mirrors WHERE creator = ANY($1::text[]) AND mirror_id >= 100", mine) == 5
        assert ws.accepted >= 2 and indexer.alive()
        log = indexer.log()
        assert "reconnecting" in log
        if outage == "websocket_and_rpc":
            assert "rpc_retry" in log
    finally:
        indexer.stop()
        await ws.close()
        await http.close()
        await db.close()


async def test_a_second_indexer_waits_then_takes_over(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    first = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "first.log").start()
    second = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "second.log")
    try:
        owners = await wallets(rpc, 2)
        await Traffic(rpc, trainer, owners, base_id=1).run(2)
        await assert_exactly_the_chain(database, localnet.rpc_url)
        second.start()
        await eventually(lambda: asyncio.sleep(0, "waiting_for_leader_lock" in second.log()), what="the second one waiting")
        await Traffic(rpc, trainer, owners, base_id=10).run(2)
        first.kill()
        await Traffic(rpc, trainer, owners, base_id=20).run(3)
        await assert_exactly_the_chain(database, localnet.rpc_url)
        assert second.alive()
    finally:
        first.stop()
        second.stop()
