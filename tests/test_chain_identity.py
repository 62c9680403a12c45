"""The read models belong to one chain (indexer/chain_identity.py), with real processes:
a localnet replaced under a running indexer by a fresh one (new ledger, same port) is
refused by the indexer (it exits non-zero, naming both genesis hashes, having written
nothing of the new chain) and by reconcile; ``--reset-chain`` then starts the read models
afresh and they hold exactly the new chain. A restart of the same chain (same ledger), or
a node that cannot be reached yet, is no mismatch. A database from before the record is adopted
only when the node knows its last transaction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from indexer.__main__ import CHAIN_MISMATCH_EXIT
from indexer.apply import PROJECTION_TABLES
from indexer.chain_identity import ChainMismatch, verify_chain
from indexer.source import Rpc
from mirror_common.config import MIRROR_PROGRAM_ID, REPO_ROOT
from mirror_common.localnet import Localnet, free_port_pair
from mirror_common.services import Redis
from tests.conftest import funded
from tests.indexer_support import IndexerProcess, TcpProxy, Traffic, assert_exactly_the_chain, eventually

pytestmark = pytest.mark.slow


async def genesis_hash(rpc_url: str) -> str:
    rpc = Rpc(rpc_url)
    try:
        return str(await rpc.call("getGenesisHash"))
    finally:
        await rpc.close()


async def mirrors_on(node: Localnet, trainer: Keypair, count: int, base_id: int) -> None:
    client = AsyncClient(node.rpc_url, commitment=Confirmed)
    try:
        owners = [await funded(client, 5) for _ in range(2)]
        traffic = Traffic(client, trainer, owners, base_id=base_id)
        await traffic.run(count)
        assert traffic.errors == [], traffic.errors
    finally:
        await client.close()


async def written(db: asyncpg.Connection) -> dict[str, Any]:
    """Everything the indexer writes for a chain (less what finality may still move:
    commitment and the finalized cursor; and the publisher's watermark)."""
    out: dict[str, Any] = {
        "chain_events": [tuple(r) for r in await db.fetch("SELECT id, signature, event_index, slot, name FROM chain_events ORDER BY id")],
        "skipped_items": [tuple(r) for r in await db.fetch("SELECT id, signature, reason FROM skipped_items ORDER BY id")],
        "cursor": [tuple(r) for r in await db.fetch("SELECT * FROM indexer_cursor WHERE commitment = 'confirmed'")],
        "identity": await db.fetchval("SELECT genesis_hash FROM chain_identity"),
    }
    for t in PROJECTION_TABLES:
        out[t] = [tuple(r) for r in await db.fetch(f"SELECT * FROM {t} ORDER BY address")]
    return out


async def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m <args>``, off the event loop."""
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def reconcile_cli(rpc_url: str, database: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return await cli("indexer.reconcile", "--rpc-url", rpc_url, "--database-url", database, "--json", *extra)


async def test_a_localnet_replaced_mid_run_is_refused_until_reset_chain(
    trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    port = free_port_pair()
    node_a = Localnet(rpc_port=port, ledger_dir=tmp_path / "ledger-a", log_path=tmp_path / "node-a.log")
    node_b = Localnet(rpc_port=port, ledger_dir=tmp_path / "ledger-b", log_path=tmp_path / "node-b.log")
    node_a.start()
    indexer = IndexerProcess(node_a.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    db = await asyncpg.connect(database)
    try:
        await mirrors_on(node_a, trainer, 5, base_id=1)
        await assert_exactly_the_chain(database, node_a.rpc_url)
        genesis_a = await genesis_hash(node_a.rpc_url)
        assert await db.fetchval("SELECT genesis_hash FROM chain_identity") == genesis_a
        assert await db.fetchval("SELECT count(*) FROM mirrors") == 5
        before = await written(db)

        # The developer resets the chain: a fresh ledger on the same port. Its bootstrap alone
        # (Config, dev trainer) is program events a backfill would take.
        node_a.stop()
        node_b.start()
        genesis_b = await genesis_hash(node_b.rpc_url)
        assert genesis_b != genesis_a

        async def exited() -> bool:
            return not indexer.alive()

        await eventually(exited, 60, "the indexer to stop on the new chain")
        assert indexer.process is not None and indexer.process.returncode == CHAIN_MISMATCH_EXIT, indexer.log()[-3000:]
        log = indexer.log()
        assert "chain_mismatch" in log and genesis_a in log and genesis_b in log and "--reset-chain" in log, log[-3000:]
        assert await written(db) == before, "a row of the new chain was written"

        # reconcile refuses too, and repairs nothing.
        await mirrors_on(node_b, trainer, 3, base_id=100)
        for extra in ((), ("--repair",)):
            proc = await reconcile_cli(node_b.rpc_url, database, *extra)
            assert proc.returncode == CHAIN_MISMATCH_EXIT, proc
            assert genesis_a in proc.stderr and genesis_b in proc.stderr and "--reset-chain" in proc.stderr, proc.stderr
        assert await written(db) == before, "reconcile wrote into the old chain's read models"

        # So do the one-shot modes that read the node.
        proc = await cli("indexer", "--retry-skipped", env=indexer.env)
        assert proc.returncode == CHAIN_MISMATCH_EXIT and genesis_b in proc.stderr, proc

        # --reset-chain: the read models start afresh and hold exactly the new chain.
        old_max_id = await db.fetchval("SELECT max(id) FROM chain_events")
        reset = IndexerProcess(node_b.rpc_url, database, redis_server.url, tmp_path / "indexer-reset.log").start("--reset-chain")
        try:
            await assert_exactly_the_chain(database, node_b.rpc_url)
            assert await db.fetchval("SELECT count(*) FROM mirrors") == 3
            assert await db.fetchval("SELECT genesis_hash FROM chain_identity") == genesis_b
            # Event ids go on above the old chain's: a consumer deduping on id never sees one again.
            assert await db.fetchval("SELECT min(id) FROM chain_events") > old_max_id
            row = await db.fetchrow("SELECT old_genesis_hash, new_genesis_hash, dropped, last_event_id FROM chain_resets")
            assert row is not None
            assert (row["old_genesis_hash"], row["new_genesis_hash"], row["last_event_id"]) == (genesis_a, genesis_b, old_max_id)
            dropped = json.loads(row["dropped"])
            assert dropped["mirrors"] == 5 and dropped["chain_events"] == len(before["chain_events"]) > 0, dropped
            assert "chain_reset" in reset.log() and reset.alive(), reset.log()[-3000:]
            proc = await reconcile_cli(node_b.rpc_url, database)
            assert proc.returncode == 0 and '"drift": 0' in proc.stdout, proc
        finally:
            reset.stop()
    finally:
        indexer.stop()
        await db.close()
        node_a.stop()
        node_b.stop()


async def test_a_restart_of_the_same_chain_is_accepted(trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", log_path=tmp_path / "node.log").start()
    # The node unreachable at first (RPC through a proxy that closes every connection; a port
    # left free for a while could be taken by another test's node): waited for, not a mismatch.
    proxy = await TcpProxy(node.rpc_port).start()
    proxy.refuse = True
    indexer = IndexerProcess(f"http://127.0.0.1:{proxy.port}", database, redis_server.url, tmp_path / "indexer.log")
    indexer.env["MIRROR_WS_URL"] = node.ws_url
    indexer.start()
    db = await asyncpg.connect(database)
    try:
        await eventually(lambda: asyncio.to_thread(lambda: "rpc_retry" in indexer.log()), 30, "the indexer to find the node unreachable")
        await asyncio.sleep(1.0)
        assert indexer.alive(), indexer.log()[-3000:]
        assert await db.fetchval("SELECT count(*) FROM chain_identity") == 0
        proxy.refuse = False
        await mirrors_on(node, trainer, 2, base_id=1)
        await assert_exactly_the_chain(database, node.rpc_url)
        genesis = await genesis_hash(node.rpc_url)
        recorded = await db.fetchrow("SELECT genesis_hash, recorded_at FROM chain_identity")
        assert recorded is not None and recorded["genesis_hash"] == genesis

        node.restart()  # same ledger, same port: the same chain
        await mirrors_on(node, trainer, 2, base_id=10)
        await assert_exactly_the_chain(database, node.rpc_url)
        indexer.stop()  # and the indexer restarted against it: the start-up check
        indexer.start()
        await mirrors_on(node, trainer, 1, base_id=20)
        await assert_exactly_the_chain(database, node.rpc_url)

        assert await genesis_hash(node.rpc_url) == genesis
        assert await db.fetchrow("SELECT genesis_hash, recorded_at FROM chain_identity") == recorded
        log = indexer.log()
        assert indexer.alive() and "reconnecting" in log and "chain_mismatch" not in log, log[-3000:]
        assert (await reconcile_cli(node.rpc_url, database)).returncode == 0
    finally:
        indexer.stop()
        await proxy.close()
        await db.close()
        node.stop()


async def test_a_database_from_before_the_record_is_adopted_only_by_its_chain(rpc: AsyncClient, localnet: Localnet, database: str) -> None:
    known = (await rpc.request_airdrop(Keypair().pubkey(), 1_000_000)).value
    await rpc.confirm_transaction(known, commitment=Confirmed, sleep_seconds=0.05)
    node = await genesis_hash(localnet.rpc_url)
    client = Rpc(localnet.rpc_url)
    db = await asyncpg.connect(database)
    try:
        set_cursor = """INSERT INTO indexer_cursor (program_id, commitment, signature, slot) VALUES ($1, 'confirmed', $2, 1)
                        ON CONFLICT (program_id, commitment) DO UPDATE SET signature = EXCLUDED.signature"""
        # Rows whose last transaction this node never saw: another chain's.
        await db.execute(set_cursor, MIRROR_PROGRAM_ID, "4" * 87)
        with pytest.raises(ChainMismatch) as refused:
            await verify_chain(db, client, MIRROR_PROGRAM_ID)
        assert refused.value.recorded is None and node in str(refused.value) and "4" * 87 in str(refused.value)
        assert await db.fetchval("SELECT count(*) FROM chain_identity") == 0
        # reconcile's check (record=False) records nothing and lets an unrecorded database pass.
        assert await verify_chain(db, client, MIRROR_PROGRAM_ID, record=False) == node
        assert await db.fetchval("SELECT count(*) FROM chain_identity") == 0

        await db.execute(set_cursor, MIRROR_PROGRAM_ID, str(known))
        assert await verify_chain(db, client, MIRROR_PROGRAM_ID) == node
        assert await db.fetchval("SELECT genesis_hash FROM chain_identity") == node

        # Recorded: another hash is refused, naming both.
        await db.execute("UPDATE chain_identity SET genesis_hash = 'OtherChain1111111111111111111111'")
        with pytest.raises(ChainMismatch) as refused:
            await verify_chain(db, client, MIRROR_PROGRAM_ID, record=False)
        assert "OtherChain1111111111111111111111" in str(refused.value) and node in str(refused.value)
    finally:
        await client.close()
        await db.close()


async def test_chain_events_cannot_be_truncated_outside_a_reset(database: str) -> None:
    db = await asyncpg.connect(database)
    try:
        with pytest.raises(asyncpg.RaiseError, match="--reset-chain"):
            await db.execute("TRUNCATE chain_events")
        async with db.transaction():
            await db.execute("SELECT set_config('mirror.chain_reset', 'on', true)")
            await db.execute("TRUNCATE chain_events")
        with pytest.raises(asyncpg.RaiseError, match="--reset-chain"):  # the setting was local to that transaction
            await db.execute("TRUNCATE chain_events")
    finally:
        await db.close()
