"""graphql_api/coalesce.py in process, over a real PostgreSQL: lookups by key from concurrent
requests become one statement per kind and viewer, each request still gets exactly its own
rows as its viewer may see them, a request that goes away does not take the others' answer
with it, and a failed statement fails each request that waited on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from graphql_api.coalesce import Coalescer
from graphql_api.context import Context
from graphql_api.schema import build_schema
from mirror_common.pg import Pool, create_pool
from tests.api_support import address, seed
from tests.test_api_fanout import State

QUERY = "query($a: Address!) { mirror(address: $a) { address name } }"


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database)
    yield pool
    await pool.close()


async def ask(state: State, viewer: str | None, mirror: str) -> Any:
    schema = build_schema(state.settings)
    result = await schema.execute_query(QUERY, {"a": mirror}, Context(state, viewer, "rid"), None)  # type: ignore[arg-type]
    assert result is not None
    return result


async def test_concurrent_lookups_share_statements_and_keep_viewers_apart(pool: Pool) -> None:
    owner, grantee, stranger = address(), address(), address()
    async with pool.acquire() as conn:
        mirrors = await seed(conn, mirrors=30, owner=owner, grantee=grantee, private_every=3)
        names = {r["address"]: r["name"] for r in await conn.fetch("SELECT address, name FROM mirrors")}
        private = {r["address"] for r in await conn.fetch("SELECT address FROM mirrors WHERE visibility = 'Private'")}
    state = State(pool)

    # Thirty anonymous requests at once, each for another mirror: one statement, each its own answer.
    results = await asyncio.gather(*(ask(state, None, m) for m in mirrors))
    assert state.metrics.lookup_counts() == (1, 30)
    for m, r in zip(mirrors, results, strict=True):
        assert r.errors is None and r.data["mirror"]["address"] == m
        assert r.data["mirror"]["name"] == (None if m in private else names[m]), m

    # The same private mirror, at once, for four viewers: one statement each, and each sees what it may.
    secret = sorted(private)[0]
    viewers = [owner, grantee, stranger, None]
    results = await asyncio.gather(*(ask(state, v, secret) for v in viewers))
    assert state.metrics.lookup_counts()[0] == 1 + len(viewers)
    assert [r.data["mirror"]["name"] for r in results] == [names[secret], names[secret], None, None]


async def test_a_request_that_leaves_or_a_failed_statement_touches_only_its_waiters(pool: Pool, database: str) -> None:
    async with pool.acquire() as conn:
        mirrors = await seed(conn, mirrors=5, owner=address())
    state = State(pool)
    tasks = [asyncio.create_task(ask(state, None, m)) for m in mirrors]
    await asyncio.sleep(0)  # each has asked; the first now leaves before the statement answers
    tasks[0].cancel()
    done = await asyncio.gather(*tasks[1:])
    assert [r.data["mirror"]["address"] for r in done] == mirrors[1:]
    assert tasks[0].cancelled()

    closed = await create_pool(database)
    await closed.close()
    state.lookups = Coalescer(closed, state.metrics)
    failed = await asyncio.gather(*(ask(state, None, m) for m in mirrors))
    assert all(r.errors and r.errors[0].message == "Unexpected error." for r in failed), failed
    state.lookups = Coalescer(pool, state.metrics)
    assert (await ask(state, None, mirrors[0])).data["mirror"]["address"] == mirrors[0]
