"""Operating the indexer: Prometheus metrics, structured logs, re-indexing from
chain_events and from the chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from mirror_common.config import REPO_ROOT
from mirror_common.localnet import Localnet
from mirror_common.services import Redis, free_port
from tests.conftest import funded
from tests.indexer_support import IndexerProcess, MirrorLife, assert_exactly_the_chain, eventually, index_to_the_chain

PROJECTIONS = ("config", "trainers", "mirrors", "access_grants", "training_jobs", "model_versions")


async def snapshot(db: asyncpg.Connection) -> dict[str, list[dict]]:
    return {t: [dict(r) for r in await db.fetch(f"SELECT * FROM {t} ORDER BY address")] for t in PROJECTIONS}


def metric(text: str, metric_name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{metric_name}{{{want}}} " if want else f"{metric_name} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{metric_name}{{{want}}} not in /metrics")


async def test_metrics_and_json_logs(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    port = free_port()
    indexer = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log")
    indexer.env["INDEXER_METRICS_PORT"] = str(port)
    indexer.start()
    try:
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 2)
        await life.create(owner, 1, "Metered")
        await assert_exactly_the_chain(database, localnet.rpc_url)

        async def scrape() -> str | None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                return r.text if "mirror_indexer_events_applied_total{" in r.text else None
            except httpx.HTTPError:
                return None

        text = await eventually(scrape, what="/metrics")
        assert metric(text, "mirror_indexer_events_applied_total", name="MirrorCreated") >= 1
        assert metric(text, "mirror_indexer_backfill_total") >= 1
        assert metric(text, "mirror_indexer_cursor_slot") > 0

        async def caught_up() -> bool:  # live with nothing queued: no lag, though the cursor's slot is old
            return (t := await scrape()) is not None and metric(t, "mirror_indexer_slot_lag") == 0

        await eventually(caught_up, what="slot lag 0")
        assert metric(text, "mirror_indexer_reconnects_total") == 0
        lines = [json.loads(line) for line in indexer.log().splitlines() if line.startswith("{")]
        assert any(line.get("event") == "live" for line in lines) and all("timestamp" in line and "level" in line for line in lines)
    finally:
        indexer.stop()


async def test_reindex_from_chain_events_and_from_the_chain(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path, postgres
) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 1, "Rebuilt")
    await life.train(owner, mirror, 0, 1)
    await index_to_the_chain(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log")
    db = await asyncpg.connect(database)
    try:
        before = await snapshot(db)
        await db.execute("TRUNCATE mirrors, training_jobs, model_versions")
        await db.execute("UPDATE access_grants SET permissions = 0")
        run = IndexerProcess(localnet.rpc_url, database, redis_server.url, tmp_path / "reindex.log")
        done = subprocess.run([sys.executable, "-m", "indexer", "--reindex"], cwd=REPO_ROOT, env=run.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert await snapshot(db) == before
    finally:
        await db.close()

    # From the chain, into an empty database: the same projections.
    import uuid

    fresh = postgres.url.rsplit("/", 1)[0] + "/r_" + uuid.uuid4().hex[:10]
    admin = await asyncpg.connect(postgres.url)
    await admin.execute(f'CREATE DATABASE "{fresh.rsplit("/", 1)[1]}"')
    try:
        run = IndexerProcess(localnet.rpc_url, fresh, redis_server.url, tmp_path / "reindex2.log")
        done = subprocess.run(
            [sys.executable, "-m", "indexer", "--reindex", "--from-slot", "0"], cwd=REPO_ROOT, env=run.env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        db = await asyncpg.connect(fresh)
        try:
            rebuilt = await snapshot(db)
        finally:
            await db.close()
        ignore = {"last_slot"}

        def strip(snap):
            return {
                t: [{k: v for k, v in r.items() if k not in ignore} for r in rows if r["address"] in {x["address"] for x in before[t]}]
                for t, rows in snap.items()
            }

        assert strip(rebuilt) == strip(before)
        await assert_exactly_the_chain(fresh, localnet.rpc_url, timeout=5)
    finally:
        await admin.execute(f'DROP DATABASE "{fresh.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()


async def test_reconcile_command_line(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 2)
    mirror = await life.create(owner, 1, "Checked")
    await index_to_the_chain(localnet.rpc_url, database, redis_server.url, tmp_path / "indexer.log")
    cmd = [sys.executable, "-m", "indexer.reconcile", "--json", "--database-url", database, "--rpc-url", localnet.rpc_url]
    clean = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert clean.returncode == 0 and json.loads(clean.stdout)["drift"] == 0, clean.stderr
    db = await asyncpg.connect(database)
    try:
        await db.execute("UPDATE mirrors SET visibility = 'Public', status = 'Frozen' WHERE address = $1", str(mirror))
        drift = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
        report = json.loads(drift.stdout)
        assert drift.returncode == 1 and report["drift"] == 1
        assert report["items"][0]["address"] == str(mirror) and set(report["items"][0]["columns"]) == {"visibility", "status"}
        fixed = subprocess.run([*cmd, "--repair"], cwd=REPO_ROOT, capture_output=True, text=True)
        assert fixed.returncode == 0 and json.loads(fixed.stdout)["repaired"] == 1
        assert await db.fetchval("SELECT status FROM mirrors WHERE address = $1", str(mirror)) == "Active"
        assert subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True).returncode == 0
    finally:
        await db.close()
