"""The indexer's edge cases, on real transactions from mirror-localnet and a real
PostgreSQL: failed transactions, other programs' log frames, unknown and undecodable
payloads, the same event from live and backfill, notifications out of order, and a
"Log truncated" notification. Crafted inputs are real transactions' logs edited the
way a hostile or cut-short log would look; the pipeline under test is the real one."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from indexer.decode import RawTx
from indexer.reconcile import reconcile
from indexer.service import Indexer, IndexerConfig
from mirror_common import codec
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from mirror_common.pg import create_pool
from mirror_common.services import Redis
from mirror_common.wallet import WalletError
from tests.conftest import funded
from tests.indexer_support import MirrorLife, eventually
from tests.test_localnet_rpc import raw

PROJECTIONS = ("config", "trainers", "mirrors", "access_grants", "training_jobs", "model_versions")


@pytest.fixture
async def indexer(localnet: Localnet, database: str, redis_server: Redis) -> AsyncIterator[Indexer]:
    ix = Indexer(IndexerConfig(localnet.rpc_url, localnet.ws_url, MIRROR_PROGRAM_ID, database, redis_server.url))
    ix.pool = await create_pool(database)
    yield ix
    await ix.close()


async def snapshot(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    """Every projection row (without bookkeeping columns), for comparing two runs."""
    out = {}
    async with pool.acquire() as conn:
        for t in PROJECTIONS:
            rows = await conn.fetch(f"SELECT * FROM {t} ORDER BY address")
            out[t] = [{k: v for k, v in r.items() if k != "last_slot"} for r in rows]
    return out


async def raw_tx(indexer: Indexer, sig: Any, source: str = "live") -> RawTx:
    tx = (await indexer.rpc.transactions([str(sig)]))[str(sig)]
    assert tx is not None
    tx.source = source
    return tx


async def count(pool: asyncpg.Pool, sql: str, *args: Any) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def test_a_failed_transaction_changes_no_projection(rpc: AsyncClient, indexer: Indexer) -> None:
    owner = await funded(rpc, 2)
    mirror = codec.mirror_pda(owner.pubkey(), 41)
    create = codec.build_instruction(
        "create_mirror",
        {"mirror_id": 41, "name": "Doomed", "metadata_uri": "", "visibility": "Public"},
        {"config": codec.config_pda(), "mirror": mirror, "creator": owner.pubkey()},
    )
    too_much = transfer(TransferParams(from_pubkey=owner.pubkey(), to_pubkey=Keypair().pubkey(), lamports=10**18))
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    tx = Transaction([owner], Message([create, too_much], owner.pubkey()), blockhash)
    sig = (await rpc.send_transaction(VersionedTransaction.from_legacy(tx), opts=TxOpts(skip_preflight=True))).value
    status = await eventually(lambda: _status(rpc, sig), what="the failed transaction's status")
    assert status.err is not None

    # The program did emit MirrorCreated before the transaction failed: the logs hold it.
    failed = await raw_tx(indexer, sig)
    assert failed.err is not None and any(line.startswith("Program data: ") for line in failed.logs or [])

    await indexer.process([failed])  # as the live stream delivers it
    await indexer.catch_up()  # and as backfill finds it
    assert await count(indexer.pool, "SELECT count(*) FROM mirrors WHERE address = $1", str(mirror)) == 0
    assert await count(indexer.pool, "SELECT count(*) FROM chain_events WHERE signature = $1", str(sig)) == 0


async def _status(rpc: AsyncClient, sig: Any) -> Any:
    return (await rpc.get_signature_statuses([sig])).value[0]


async def test_other_programs_frames_and_bad_payloads(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    await life.create(owner, 42, "Frames")
    sig = (await rpc.get_signatures_for_address(codec.mirror_pda(owner.pubkey(), 42), commitment=Confirmed)).value[0].signature
    tx = await raw_tx(indexer, sig)
    logs = list(tx.logs or [])
    real = [i for i, line in enumerate(logs) if line.startswith("Program data: ")]
    assert len(real) == 1
    other = str(Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"))
    fake_created = codec.encode_event(
        "MirrorCreated",
        {**codec.decode_event(base64.b64decode(logs[real[0]].split()[2])).fields, "name": "Forged", "mirror": str(Keypair().pubkey())},
    )
    unknown = b"\x01\x02\x03\x04\x05\x06\x07\x08payload"
    truncated_payload = base64.b64decode(logs[real[0]].split()[2])[:20]
    edited = [
        *logs[: real[0]],
        # Another program's frame (CPI) logging an event that looks like ours: ignored.
        f"Program {other} invoke [2]",
        f"Program data: {base64.b64encode(fake_created).decode()}",
        f"Program {other} success",
        f"Program data: {base64.b64encode(unknown).decode()}",  # ours, unknown discriminator: index 0
        logs[real[0]],  # ours, MirrorCreated: index 1
        f"Program data: {base64.b64encode(truncated_payload).decode()}",  # ours, does not decode: index 2
        *logs[real[0] + 1 :],
    ]
    tx.logs = edited
    tx.signature = "edited" + tx.signature[6:]  # a different identity than the real transaction
    await indexer.process([tx])
    async with indexer.pool.acquire() as conn:
        events = await conn.fetch("SELECT event_index, name, payload FROM chain_events WHERE signature = $1", tx.signature)
        assert [(e["event_index"], e["name"]) for e in events] == [(1, "MirrorCreated")]
        assert events[0]["payload"]["name"] == "Frames"
        skips = {
            (s["event_index"], s["reason"]): s for s in await conn.fetch("SELECT * FROM skipped_items WHERE signature = $1", tx.signature)
        }
        assert set(skips) == {(0, "unknown_discriminator"), (2, "decode_error")}
        assert base64.b64decode(skips[(0, "unknown_discriminator")]["raw"]) == unknown
        assert await conn.fetchval("SELECT count(*) FROM mirrors WHERE name = 'Forged'") == 0

        # A line of ours that is not base64: recorded for the whole transaction, nothing applied, no crash.
        tx.signature = "hostile" + tx.signature[7:]
        tx.logs = [*logs[: real[0]], "Program data: %%%not-base64%%%", *logs[real[0] + 1 :]]
        await indexer.process([tx])
        assert await conn.fetchval("SELECT reason FROM skipped_items WHERE signature = $1", tx.signature) == "bad_log_line"
        assert await conn.fetchval("SELECT count(*) FROM chain_events WHERE signature = $1", tx.signature) == 0


async def test_a_start_fresh_byte_other_than_0_or_1_is_a_decode_error(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    """TrainRequested.params.start_fresh is a Borsh bool: a log whose byte says 2 is recorded
    as decode_error (with the payload, for --retry-skipped) and applies nothing, like any
    other undecodable value; the real transaction is applied with the flag it carries."""
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 44, "Fresh")
    job = await life.request(owner, mirror, 0, start_fresh=True)
    sig = (await rpc.get_signatures_for_address(job, commitment=Confirmed)).value[0].signature
    tx = await raw_tx(indexer, sig)
    logs = list(tx.logs or [])
    [at] = [i for i, line in enumerate(logs) if line.startswith("Program data: ")]
    payload = base64.b64decode(logs[at].split()[2])
    assert codec.decode_event(payload).fields["params"]["start_fresh"] is True
    flag = len(payload) - 9  # the bool before the i64 timestamp
    assert payload[flag] == 1
    forged = payload[:flag] + b"\x02" + payload[flag + 1 :]
    forged_line = f"Program data: {base64.b64encode(forged).decode()}"
    edited = RawTx("forged" + tx.signature[6:], tx.slot, None, [*logs[:at], forged_line, *logs[at + 1 :]])
    await indexer.process([edited])
    async with indexer.pool.acquire() as conn:
        skip = await conn.fetchrow("SELECT * FROM skipped_items WHERE signature = $1", edited.signature)
        assert skip["reason"] == "decode_error" and "invalid bool byte 2" in skip["detail"], dict(skip)
        assert base64.b64decode(skip["raw"]) == forged
        assert await conn.fetchval("SELECT count(*) FROM chain_events WHERE signature = $1", edited.signature) == 0
        assert await conn.fetchval("SELECT count(*) FROM training_jobs WHERE address = $1", str(job)) == 0

    await indexer.process([tx])
    async with indexer.pool.acquire() as conn:
        assert await conn.fetchval("SELECT start_fresh FROM training_jobs WHERE address = $1", str(job)) is True


async def test_the_same_event_from_live_and_backfill_is_applied_once(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 43, "Twice")
    job = await life.request(owner, mirror, 0)
    await indexer.catch_up()
    before = await snapshot(indexer.pool)
    events_before = await count(indexer.pool, "SELECT count(*) FROM chain_events")
    sigs = [s.signature for s in (await rpc.get_signatures_for_address(mirror, commitment=Confirmed)).value]
    live = [await raw_tx(indexer, s, "live") for s in reversed(sigs)]
    assert await indexer.process(live) == 0  # already stored by backfill: nothing applied again
    async with indexer.pool.acquire() as conn:  # backfill from the very beginning again
        await conn.execute("UPDATE indexer_cursor SET signature = NULL, slot = 0")
    assert await indexer.catch_up() == 0
    assert await snapshot(indexer.pool) == before
    assert await count(indexer.pool, "SELECT count(*) FROM chain_events") == events_before
    row = await count(indexer.pool, "SELECT job_count FROM mirrors WHERE address = $1", str(mirror))
    assert row == 1  # TrainRequested counted once
    assert await count(indexer.pool, "SELECT count(*) FROM training_jobs WHERE address = $1", str(job)) == 1


async def test_notifications_out_of_order_end_in_the_chain_state(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, indexer: Indexer
) -> None:
    life = MirrorLife(rpc, trainer)
    owner, grantee, buyer = await funded(rpc, 3), Keypair(), Keypair()

    async def next_slot() -> None:  # one transaction per slot, so that slots alone order them
        await raw(localnet, "mirror_warpClock", [{"seconds": 0, "slots": 1}])

    mirror = await life.create(owner, 44, "Shuffled")
    steps = [
        lambda: life.update(owner, mirror, "Shuffled 2"),
        lambda: life.grant(owner, mirror, grantee.pubkey(), 1),
        lambda: life.grant(owner, mirror, grantee.pubkey(), 3),
        lambda: life.request(owner, mirror, 0),
        lambda: life.start(mirror, codec.job_pda(mirror, 0)),
        lambda: life.complete(mirror, codec.job_pda(mirror, 0), 1),
        lambda: life.revoke(owner, mirror, grantee.pubkey()),
        lambda: life.grant(owner, mirror, grantee.pubkey(), 8),
        lambda: life.transfer(owner, mirror, buyer.pubkey()),
    ]
    for step in steps:
        await next_slot()
        await step()
    job = codec.job_pda(mirror, 0)
    history = (await rpc.get_signatures_for_address(mirror, commitment=Confirmed)).value  # newest first
    slots: dict[int, list[Any]] = {}
    for s in history:
        slots.setdefault(s.slot, []).insert(0, s.signature)  # within a slot: the node's order
    assert len(slots) == 10
    # Slots newest first, one transaction per commit: every event arrives after the ones it follows.
    for slot in sorted(slots, reverse=True):
        for sig in slots[slot]:
            await indexer.process([await raw_tx(indexer, sig)])
    async with indexer.pool.acquire() as conn:
        m = await conn.fetchrow("SELECT * FROM mirrors WHERE address = $1", str(mirror))
        g = await conn.fetchrow("SELECT * FROM access_grants WHERE mirror = $1", str(mirror))
        j = await conn.fetchrow("SELECT * FROM training_jobs WHERE address = $1", str(job))
    assert m["name"] == "Shuffled 2" and m["owner"] == str(buyer.pubkey()) and m["model_version"] == 1 and m["job_count"] == 1
    assert g["permissions"] == 8 and g["revoked_at"] is None
    assert j["status"] == "Completed"
    report = await reconcile(indexer.pool, indexer.rpc, MIRROR_PROGRAM_ID)
    mine = [d for d in report.drift if d.address in {str(mirror), str(job), g["address"]}]
    assert mine == [], mine


async def test_a_truncated_notification_is_fetched_in_full(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 45, "Cut")
    job = await life.request(owner, mirror, 0)
    await life.start(mirror, job)
    sig = (await rpc.get_signatures_for_address(job, commitment=Confirmed)).value[0].signature
    full = await raw_tx(indexer, sig)
    cut = RawTx(full.signature, full.slot, None, [*full.logs[:1], "Log truncated"], None, "live")
    assert await indexer.process([cut]) == 1  # the TrainingStarted event, from getTransaction
    async with indexer.pool.acquire() as conn:
        assert await conn.fetchval("SELECT name FROM chain_events WHERE signature = $1", str(sig)) == "TrainingStarted"
        assert await conn.fetchval("SELECT count(*) FROM skipped_items WHERE signature = $1", str(sig)) == 0


async def test_a_nul_in_a_name_is_refused_on_chain_and_stored_safely_if_seen(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    """The program refuses control characters in names; an event that carries NUL anyway
    (say, from an older deployment) is stored with U+FFFD, as PostgreSQL text and jsonb
    refuse NUL, instead of stopping the indexer."""
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    with pytest.raises(WalletError) as refused:
        await life.create(owner, 46, "nul\x00name")
    assert refused.value.program_error == "ControlCharacters", refused.value
    mirror = await life.create(owner, 46, "plain")
    (sig,) = [s.signature for s in (await rpc.get_signatures_for_address(mirror, commitment=Confirmed)).value]
    tx = await raw_tx(indexer, sig)
    logs = tx.logs or []
    i = next(i for i, line in enumerate(logs) if line.startswith("Program data: "))
    ev = codec.decode_event(base64.b64decode(logs[i].split()[2]))
    forged = codec.encode_event("MirrorCreated", {**ev.fields, "name": "nul\x00name"})
    tx.logs = [*logs[:i], f"Program data: {base64.b64encode(forged).decode()}", *logs[i + 1 :]]
    assert await indexer.process([tx]) == 1
    async with indexer.pool.acquire() as conn:
        assert await conn.fetchval("SELECT name FROM mirrors WHERE address = $1", str(mirror)) == "nul\ufffdname"


async def test_a_forged_job_id_at_u64_max_is_stored_losslessly(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    """Once refused by a bigint column (and recorded as apply_error); every u64 now has a
    column that holds it. What the database refuses still is tested in test_indexer_poison.py."""
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 47, "Poison")
    await life.request(owner, mirror, 0)
    await life.update(owner, mirror, "After")
    sigs = [s.signature for s in reversed((await rpc.get_signatures_for_address(mirror, commitment=Confirmed)).value)]
    txs = [await raw_tx(indexer, s) for s in sigs]
    # The TrainRequested of the second transaction claims a job id no bigint holds.
    logs = txs[1].logs or []
    i = next(i for i, line in enumerate(logs) if line.startswith("Program data: "))
    ev = codec.decode_event(base64.b64decode(logs[i].split()[2]))
    assert ev.name == "TrainRequested"
    hostile = codec.encode_event("TrainRequested", {**ev.fields, "job_id": 2**64 - 1})
    txs[1].logs = [*logs[:i], f"Program data: {base64.b64encode(hostile).decode()}", *logs[i + 1 :]]
    assert await indexer.process(txs) == 3
    async with indexer.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM skipped_items WHERE signature = $1", str(sigs[1])) == 0
        assert await conn.fetchval("SELECT job_id FROM training_jobs WHERE address = $1", ev.fields["job"]) == 2**64 - 1
        assert await conn.fetchval("SELECT job_count FROM mirrors WHERE address = $1", str(mirror)) == 2**64
        assert await conn.fetchval("SELECT name FROM mirrors WHERE address = $1", str(mirror)) == "After"
        assert await conn.fetchval("SELECT signature FROM indexer_cursor WHERE commitment = 'confirmed'") == str(sigs[2])


async def test_a_transaction_the_node_could_not_return_is_fetched_again(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    """Backfill recorded a signature as rpc_unavailable and moved past it; the next
    backfill asks again and applies it (late, so its row is rebuilt in chain order)."""
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 48, "Late")
    await life.update(owner, mirror, "Later")
    first, second = [s.signature for s in reversed((await rpc.get_signatures_for_address(mirror, commitment=Confirmed)).value)]
    # A database that got the update but not the creation (its update found no row).
    fresh = await _fresh_db(indexer)
    try:
        other = Indexer(indexer.cfg.__class__(**{**indexer.cfg.__dict__, "database_url": fresh}))
        other.pool = await create_pool(fresh)
        later = await raw_tx(other, second, "backfill")
        await other.process([later])
        async with other.pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(mirror)) == 0
            await conn.execute(
                """INSERT INTO skipped_items (signature, slot, program_id, reason, detail)
                   VALUES ($1, 0, $2, 'rpc_unavailable', 'getTransaction returned nothing after retries')""",
                str(first),
                MIRROR_PROGRAM_ID,
            )
        assert await other.retry_unavailable() == 1
        async with other.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT name, created_signature FROM mirrors WHERE address = $1", str(mirror))
            assert row["name"] == "Later" and row["created_signature"] == str(first)
            assert await conn.fetchval("SELECT resolved_at IS NOT NULL FROM skipped_items WHERE signature = $1", str(first))
            assert await conn.fetchval("SELECT signature FROM indexer_cursor WHERE commitment = 'confirmed'") == str(second)
        assert await other.retry_unavailable() == 0
        await other.close()
    finally:
        await _drop_db(indexer, fresh)


async def _fresh_db(indexer: Indexer) -> str:
    import uuid

    from indexer.migrate import migrate

    base = indexer.cfg.database_url.rsplit("/", 1)[0]
    name = f"f_{uuid.uuid4().hex[:10]}"
    async with indexer.pool.acquire() as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    await migrate(f"{base}/{name}")
    return f"{base}/{name}"


async def _drop_db(indexer: Indexer, url: str) -> None:
    async with indexer.pool.acquire() as conn:
        await conn.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


async def test_logs_cut_in_the_nodes_own_copy_are_recorded(rpc: AsyncClient, trainer: Keypair, indexer: Indexer) -> None:
    """When getTransaction's logs are cut too, the events before the cut are applied and
    the transaction is recorded as log_truncated (reconcile repairs the rest)."""
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 49, "Cut twice")
    job = await life.request(owner, mirror, 0)
    await life.start(mirror, job)
    model = await life.complete(mirror, job, 1)
    sig = (await rpc.get_signatures_for_address(model, commitment=Confirmed)).value[0].signature
    full = await raw_tx(indexer, sig, "backfill")
    data = [i for i, line in enumerate(full.logs or []) if line.startswith("Program data: ")]
    assert len(data) == 2  # TrainingCompleted, ModelPublished
    cut = RawTx(full.signature, full.slot, None, [*full.logs[: data[1]], "Log truncated"], full.block_time, "backfill")
    await indexer.process([cut])
    async with indexer.pool.acquire() as conn:
        assert [r["name"] for r in await conn.fetch("SELECT name FROM chain_events WHERE signature = $1", str(sig))] == [
            "TrainingCompleted"
        ]
        assert await conn.fetchval("SELECT reason FROM skipped_items WHERE signature = $1", str(sig)) == "log_truncated"
        assert await conn.fetchval("SELECT count(*) FROM model_versions WHERE address = $1", str(model)) == 0
    report = await reconcile(indexer.pool, indexer.rpc, MIRROR_PROGRAM_ID, repair=True)
    assert any(d.kind == "missing" and d.address == str(model) for d in report.drift)
    async with indexer.pool.acquire() as conn:
        assert await conn.fetchval("SELECT version FROM model_versions WHERE address = $1", str(model)) == 1


async def test_a_batch_over_the_node_body_limit_is_split_not_fatal(localnet) -> None:
    """The node refuses bodies over 50 KiB (HTTP 413, as Agave); a big backfill batch is
    split in halves until it fits instead of crashing the indexer."""
    from indexer.source import Rpc
    from mirror_common import codec

    rpc = Rpc(localnet.rpc_url)
    try:
        sigs = await rpc.call("getSignaturesForAddress", str(codec.config_pda()), {"commitment": "confirmed"})
        params = [[sigs[i % len(sigs)]["signature"], {"commitment": "confirmed", "maxSupportedTransactionVersion": 0}] for i in range(1000)]
        results = await rpc.batch("getTransaction", params)
        assert len(results) == 1000
        assert all(isinstance(r, dict) and r["transaction"]["signatures"][0] == p[0] for r, p in zip(results, params, strict=False))
    finally:
        await rpc.close()
