"""sql/: migrations (order, idempotence, refusal of an edited past migration), the
append-only rule of chain_events, and every example query of sql/README.md run
against a database the indexer filled from a real localnet."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import asyncpg
import pytest
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from indexer.chain_identity import verify_chain
from indexer.migrate import MIGRATIONS_DIR, MigrationError, migrate
from indexer.service import Indexer, IndexerConfig
from mirror_common.config import MIRROR_PROGRAM_ID, REPO_ROOT
from mirror_common.localnet import Localnet
from mirror_common.services import Postgres
from tests.conftest import funded
from tests.indexer_support import MirrorLife, eventually


@pytest.fixture
async def empty_database(postgres: Postgres) -> str:
    import uuid

    name = f"e_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres.url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return postgres.url.rsplit("/", 1)[0] + "/" + name


async def test_migrations_apply_in_order_once_and_refuse_edits(empty_database: str, tmp_path: Path) -> None:
    names = sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert names and names[0].startswith("0001_")
    assert await migrate(empty_database) == names
    assert await migrate(empty_database) == []  # safe to run twice

    conn = await asyncpg.connect(empty_database)
    try:
        recorded = await conn.fetch("SELECT name, sha256 FROM schema_migrations ORDER BY name")
        assert [r["name"] for r in recorded] == names and all(len(r["sha256"]) == 64 for r in recorded)
        tables = {r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        assert {
            "chain_events",
            "mirrors",
            "access_grants",
            "training_jobs",
            "model_versions",
            "trainers",
            "indexer_cursor",
            "skipped_items",
            "schema_migrations",
        } <= tables
        views = {r["viewname"] for r in await conn.fetch("SELECT viewname FROM pg_views WHERE schemaname = 'analytics'")}
        assert views == {"daily_mirror_creations", "training_success_rate", "training_durations", "grants_per_mirror", "model_lineage"}
    finally:
        await conn.close()

    # A new migration is applied; an edited past one is refused, and nothing runs.
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "9999_extra.sql").write_text("CREATE TABLE extra (x int);")
    assert await migrate(empty_database, copy) == ["9999_extra.sql"]
    first = copy / names[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="modified"):
        await migrate(empty_database, copy)


async def test_migrate_command_line(empty_database: str) -> None:
    import subprocess
    import sys

    def run(*a):
        return subprocess.run(
            [sys.executable, "-m", "indexer.migrate", "--database-url", empty_database, *a],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )

    first = run()
    assert first.returncode == 0 and "applied 0001_" in first.stdout, first.stderr
    second = run()
    assert second.returncode == 0 and second.stdout.strip() == "up to date"
    assert "0002_" in run("--status").stdout


async def test_chain_events_is_append_only(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload)
               VALUES ('sig', 0, 5, 'p', 'PauseChanged', '{"paused": true}')"""
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                "INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload) VALUES ('sig', 0, 5, 'p', 'X', '{}')"
            )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE chain_events SET payload = '{}'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM chain_events")
        await conn.execute("UPDATE chain_events SET commitment = 'finalized'")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE chain_events SET commitment = 'confirmed'")
    finally:
        await conn.close()


def readme_queries() -> list[str]:
    text = (REPO_ROOT / "sql" / "README.md").read_text()
    return [q.strip() for q in re.findall(r"```sql\n(.*?)```", text, re.S)]


async def test_every_readme_query_runs_on_indexed_data(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server
) -> None:
    life = MirrorLife(rpc, trainer)
    owner = await funded(rpc, 5)
    grantee = Keypair()
    mirror = await life.create(owner, 1, "Readme", "Public")
    await life.grant(owner, mirror, grantee.pubkey(), 3)
    job = await life.request(owner, mirror, 0)
    await life.start(mirror, job)
    await life.complete(mirror, job, 1)
    job1 = await life.request(owner, mirror, 1)
    await life.start(mirror, job1)
    await life.fail(job1, 3)
    fresh = await life.request(owner, mirror, 2, start_fresh=True)
    await life.start(mirror, fresh)
    await life.complete(mirror, fresh, 2, loss=1_200_000)
    await life.train(owner, mirror, 3, 3)  # continues from version 2
    await life.request(owner, mirror, 4)

    indexer = Indexer(IndexerConfig(localnet.rpc_url, localnet.ws_url, MIRROR_PROGRAM_ID, database, redis_server.url))
    from mirror_common.pg import create_pool

    indexer.pool = await create_pool(database)
    try:
        async with indexer.pool.acquire() as c:  # as the service does before its first backfill
            await verify_chain(c, indexer.rpc, MIRROR_PROGRAM_ID)
        assert await indexer.catch_up() > 0

        async def all_final() -> bool:
            await indexer.finalize_once()
            async with indexer.pool.acquire() as c:
                return await c.fetchval("SELECT count(*) = 0 FROM chain_events WHERE commitment = 'confirmed'")

        await eventually(all_final, what="every event finalized")
    finally:
        await indexer.close()

    queries = readme_queries()
    assert len(queries) >= 15
    conn = await asyncpg.connect(database)
    try:
        empty = []
        for q in queries:
            rows = await conn.fetch(q)
            if not rows:
                empty.append(q)
        # Every query ran; on a database holding a mirror's life, all but the skips one return rows.
        assert all("skipped_items WHERE resolved_at IS NULL ORDER BY" in q for q in empty), empty
        lineage = await conn.fetch("SELECT * FROM analytics.model_lineage WHERE mirror = $1", str(mirror))
        lineage = sorted(lineage, key=lambda r: r["version"])
        assert [r["version"] for r in lineage] == [1, 2, 3] and lineage[0]["dataset_cid"]
        # Version 2 was trained from scratch: it has no parent, and its change in loss is against version 1.
        assert [(r["start_fresh"], r["parent_version"]) for r in lineage] == [(False, None), (True, None), (False, 2)]
        assert lineage[1]["parent_model_cid"] is None and lineage[2]["parent_model_cid"] == lineage[1]["model_cid"]
        assert lineage[1]["loss_delta_micros"] == -300_000
        assert await conn.fetchval("SELECT start_fresh FROM training_jobs WHERE address = $1", str(fresh)) is True
        rate = await conn.fetchrow("SELECT sum(completed) c, sum(failed) f FROM analytics.training_success_rate")
        assert rate["c"] >= 1 and rate["f"] >= 1
        grants = await conn.fetchrow("SELECT * FROM analytics.grants_per_mirror WHERE mirror = $1", str(mirror))
        assert grants["live_grants"] == 1 and grants["can_infer"] == 1 and grants["can_train"] == 0
    finally:
        await conn.close()
