"""DataLoaders: 100 mirrors with their grants, jobs and latest model cost a bounded number
of SQL statements, the same as 5 mirrors. Counted by PostgreSQL itself (pg_stat_statements
on a cluster of this module's own), not by the API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from mirror_common.pg import create_pool
from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, seed

NESTED = """query($n: Int) { mirrors(first: $n) { totalCount edges { node { address name
  grants { totalCount edges { node { grantee effective } } }
  trainingJobs { edges { node { status modelVersion { version } } } }
  latestModel { version modelCid } } } } }"""


@pytest.fixture(scope="module")
def counting_postgres() -> Iterator[Postgres]:
    pg = Postgres(fsync=False)
    pg.start()
    import subprocess

    subprocess.run(
        [
            str(pg.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            pg.user,
            "-d",
            "postgres",
            "-c",
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
        ],
        check=True,
        capture_output=True,
    )
    pg.restart()
    yield pg
    pg.stop(remove=True)


@pytest.fixture(scope="module")
async def api(counting_postgres: Postgres, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiProcess]:
    url = await create_database(counting_postgres.url)
    conn = await asyncpg.connect(url)
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    await conn.close()
    pool = await create_pool(url)
    async with pool.acquire() as c:
        await seed(c, mirrors=100, owner=address(), grantee=address(), jobs=2)
    await pool.close()
    proc = ApiProcess(url, redis_server.url, tmp_path_factory.mktemp("api")).start()
    proc.env["DATABASE_URL"] = url
    yield proc
    proc.stop()


async def statements(api: ApiProcess, n: int) -> int:
    url = api.env["DATABASE_URL"]
    conn = await asyncpg.connect(url)
    try:
        await api.query(NESTED, n=n)  # warm: the pool's connections and their type introspection
        await conn.execute("SELECT pg_stat_statements_reset()")
        data = await api.query(NESTED, n=n)
        assert len(data["mirrors"]["edges"]) == n
        assert all(
            e["node"]["latestModel"]["version"] == "2"
            and len(e["node"]["trainingJobs"]["edges"]) == 2
            and e["node"]["grants"]["totalCount"] == 1
            for e in data["mirrors"]["edges"]
        )
        dbid = await conn.fetchval("SELECT oid FROM pg_database WHERE datname = current_database()")
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = $1 AND query NOT ILIKE '%pg_stat_statements%'", dbid
            )
        )
    finally:
        await conn.close()


async def test_a_hundred_mirrors_cost_as_few_statements_as_five(api: ApiProcess, tmp_path: Path) -> None:
    few = await statements(api, 5)
    many = await statements(api, 100)
    assert many == few, (few, many, await _queries(api))
    assert many <= 8, await _queries(api)  # mirrors page + count, cursors, grants page + counts, jobs page, models by job, latest models


async def _queries(api: ApiProcess) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(api.env["DATABASE_URL"])
    try:
        return [(r["calls"], r["query"][:100]) for r in await conn.fetch("SELECT calls, query FROM pg_stat_statements ORDER BY calls DESC")]
    finally:
        await conn.close()
