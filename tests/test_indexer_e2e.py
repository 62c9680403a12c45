"""The indexer against real processes: mirror-localnet, PostgreSQL, Redis.

Transactions are sent over RPC; the rows must appear with the chain's values, one
Redis message per event must go out, and running everything twice changes nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from mirror_common import codec
from mirror_common.localnet import Localnet
from mirror_common.services import Redis
from tests.conftest import funded
from tests.indexer_support import IndexerProcess, MirrorLife, eventually
from tests.test_localnet_mirror_flow import DATASET_CID, MODEL_CID


async def test_a_mirrors_life_lands_in_the_read_models_and_on_redis(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    indexer = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log").start()
    db = await asyncpg.connect(database)
    r = aioredis.from_url(redis_server.url)
    pubsub = r.pubsub()
    try:
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        grantee = Keypair()
        new_owner = Keypair()
        # Wait until the indexer is live (it has applied the bootstrap's ConfigInitialized).
        await eventually(lambda: db.fetchval("SELECT count(*) FROM config"), what="config row", timeout=60)
        mirror = codec.mirror_pda(owner.pubkey(), 1)
        await pubsub.subscribe("mirror:events", f"mirror:events:{mirror}")
        assert await life.create(owner, 1, "Ada") == mirror
        await life.update(owner, mirror, "Ada L.")
        grant = await life.grant(owner, mirror, grantee.pubkey(), 1 | 2)
        job0 = await life.request(owner, mirror, 0)
        await life.start(mirror, job0)
        model = await life.complete(mirror, job0, 1, loss=1_250_000)
        job1 = await life.request(owner, mirror, 1)
        await life.start(mirror, job1)
        await life.fail(job1, 7)
        job2 = await life.request(owner, mirror, 2)
        await life.cancel(owner, mirror, job2)
        await life.revoke(owner, mirror, grantee.pubkey())
        await life.transfer(owner, mirror, new_owner.pubkey())

        m = await eventually(
            lambda: db.fetchrow("SELECT * FROM mirrors WHERE address = $1 AND owner = $2", str(mirror), str(new_owner.pubkey())),
            what="transferred mirror",
        )
        assert m["creator"] == str(owner.pubkey()) and m["name"] == "Ada L." and m["visibility"] == "Public"
        assert m["status"] == "Active" and m["model_version"] == 1 and m["job_count"] == 3 and m["mirror_id"] == 1
        assert m["metadata_uri"] == "ipfs://Ada"
        g = await db.fetchrow("SELECT * FROM access_grants WHERE address = $1", str(grant))
        assert g["mirror"] == str(mirror) and g["grantee"] == str(grantee.pubkey()) and g["permissions"] == 3
        assert g["expires_at"] is None and g["revoked_at"] is not None and g["revoked_by"] == str(owner.pubkey())
        jobs = {r["job_id"]: r for r in await db.fetch("SELECT * FROM training_jobs WHERE mirror = $1", str(mirror))}
        assert {k: v["status"] for k, v in jobs.items()} == {0: "Completed", 1: "Failed", 2: "Cancelled"}
        assert jobs[0]["trainer"] == str(trainer.pubkey()) and jobs[0]["model_cid"] == MODEL_CID
        assert jobs[0]["final_loss_micros"] == 1_250_000 and jobs[0]["dataset_cid"] == DATASET_CID and jobs[0]["epochs"] == 1
        assert jobs[1]["failure_code"] == 7 and jobs[2]["cancelled_by"] == str(owner.pubkey())
        assert jobs[0]["started_at"] <= jobs[0]["finished_at"]
        v = await db.fetchrow("SELECT * FROM model_versions WHERE address = $1", str(model))
        assert v["version"] == 1 and v["job"] == str(job0) and v["weights_sha256"] == "ab" * 32
        t = await db.fetchrow("SELECT * FROM trainers WHERE authority = $1", str(trainer.pubkey()))
        assert t["active"] and t["address"] == str(codec.trainer_pda(trainer.pubkey()))

        # The chain's accounts agree with the projections.
        wallet = life.wallet
        chain_mirror = await wallet.account(mirror)
        assert chain_mirror["owner"] == m["owner"] and chain_mirror["job_count"] == m["job_count"]
        assert chain_mirror["updated_at"] == int(m["updated_at"].timestamp())

        # chain_events: one row per event, names in order, then finalized as the chain finalises.
        names = [
            r["name"] for r in await db.fetch("SELECT name FROM chain_events WHERE payload->>'mirror' = $1 ORDER BY slot, id", str(mirror))
        ]
        assert names == [
            "MirrorCreated",
            "MirrorUpdated",
            "AccessGranted",
            "TrainRequested",
            "TrainingStarted",
            "TrainingCompleted",
            "ModelPublished",
            "TrainRequested",
            "TrainingStarted",
            "TrainingFailed",
            "TrainRequested",
            "TrainingCancelled",
            "AccessRevoked",
            "MirrorTransferred",
        ]
        await eventually(
            lambda: db.fetchval(
                "SELECT count(*) = 0 FROM chain_events WHERE payload->>'mirror' = $1 AND commitment = 'confirmed'", str(mirror)
            ),
            what="finalized rows",
        )
        fin = await db.fetchrow("SELECT * FROM indexer_cursor WHERE commitment = 'finalized'")
        assert fin is not None and fin["slot"] > 0

        # Redis: one message per event, in chain order, on both channels.
        got: dict[str, list[dict]] = {"mirror:events": [], f"mirror:events:{mirror}": []}

        async def drain() -> bool:
            while (msg := await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None:
                data = json.loads(msg["data"])
                if data["mirror"] == str(mirror):
                    got[msg["channel"].decode()].append(data)
            return len(got[f"mirror:events:{mirror}"]) >= len(names)

        await eventually(drain, what="redis messages")
        await asyncio.sleep(0.5)
        await drain()
        assert [d["name"] for d in got[f"mirror:events:{mirror}"]] == names
        assert [d["name"] for d in got["mirror:events"]] == names
        first = got[f"mirror:events:{mirror}"][1]
        assert first["data"]["name"] == "Ada L." and first["signature"] and first["slot"] > 0
        assert indexer.alive(), indexer.log()
    finally:
        indexer.stop()
        await pubsub.aclose()
        await r.aclose()
        await db.close()
