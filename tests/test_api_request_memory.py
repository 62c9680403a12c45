"""A request leaves nothing to the cyclic collector: what it read and built is freed by reference
counting once it is answered. graphql-core's executor sat in a reference cycle (its async helpers
held its methods) and held the request's context, hence its loaders, hence every row of a nested
100-mirror query, until a collector pass (3-4 ms of CPU a request, bench/api/README.md). Now the
loaders are released (``Context.release``) and the helpers hold the executor weakly
(``PlanExecutor.__init__``). In process, over a real PostgreSQL, through ``app.execute_http``; and
the same for each event of a long-lived subscription, executed with the connection's context."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from graphql import ExecutionResult

from graphql_api.app import execute_http
from graphql_api.context import Context
from graphql_api.hub import EventHub
from graphql_api.schema import build_schema
from mirror_common.pg import Pool, create_pool
from mirror_common.services import Redis
from tests.api_support import InProcessState, address, seed

NESTED = """query Nested($n: Int) { mirrors(first: $n) { totalCount edges { node { address name
  grants { totalCount edges { node { grantee effective } } }
  trainingJobs { edges { node { status modelVersion { version } } } }
  latestModel { version modelCid } } } } }"""


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await seed(conn, mirrors=20, owner=address(), grantee=address(), jobs=2)
    yield pool
    await pool.close()


@contextlib.contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """What the collector finds unreachable in the block (kept, not freed, so that it can be looked at)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def answer(schema: Any, state: InProcessState) -> None:
    ctx = Context(state, None, "rid")  # type: ignore[arg-type]  # the state's parts that requests read
    result = await execute_http(schema, NESTED, {"n": 20}, ctx, "Nested", None)
    assert result.errors is None and len(result.data["mirrors"]["edges"]) == 20, result  # type: ignore[index]


async def test_a_nested_query_leaves_nothing_to_the_cyclic_collector(pool: Pool) -> None:
    state = InProcessState(pool)
    schema = build_schema(state.settings)
    await answer(schema, state)  # the document parsed, validated and planned once
    with cyclic_garbage() as garbage:
        for _ in range(3):
            await answer(schema, state)
        gc.collect()
        kinds = Counter(type(o).__name__ for o in garbage)
    assert kinds["Record"] == 0, kinds.most_common(12)  # none of the rows read (3 x 20 mirrors, 40 jobs, 40 models...)
    assert sum(kinds.values()) == 0, kinds.most_common(12)  # nor anything else: no cycle left


SUBSCRIPTION = """subscription Follow($a: Address!) { mirror(address: $a) { address name
  grants { totalCount edges { node { grantee effective } } }
  trainingJobs { edges { node { status modelVersion { version } } } } latestModel { version } } }"""


async def test_each_subscription_event_leaves_nothing_to_the_cyclic_collector(pool: Pool, redis_server: Redis) -> None:
    """A WebSocket connection lives for hours: each event it is sent is executed with the connection's
    context, and must leave nothing behind either (the rows its loaders read go at the next event)."""
    async with pool.acquire() as conn:
        (mirror,) = await seed(conn, mirrors=1, owner=address(), grantee=address(), jobs=3)
    state = InProcessState(pool)
    state.hub = EventHub(pool, redis_server.url, poll_s=0.02)  # nothing publishes: the hub finds the events by polling
    await state.hub.start()
    schema = build_schema(state.settings)
    ctx = Context(state, None, "rid")  # type: ignore[arg-type]  # the state's parts that subscriptions read
    stream = await schema.subscribe(SUBSCRIPTION, variable_values={"a": mirror}, context_value=ctx)
    assert not isinstance(stream, ExecutionResult), stream

    async def renamed(n: int) -> None:
        async with pool.acquire() as conn:
            await conn.execute("UPDATE mirrors SET name = $2 WHERE address = $1", mirror, f"renamed {n}")
            await conn.execute(
                """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload, block_time_unix)
                   VALUES ($1, 0, 20, 'p', 'MirrorUpdated', $2, 0)""",
                f"sig-rename-{n}",
                {"mirror": mirror},
            )
        result = await asyncio.wait_for(anext(stream), 10)
        assert result.errors is None and result.data is not None, result
        assert result.data["mirror"]["name"] == f"renamed {n}" and len(result.data["mirror"]["grants"]["edges"]) == 1

    try:
        first = await asyncio.wait_for(anext(stream), 10)
        assert first.errors is None and first.data is not None and first.data["mirror"]["address"] == mirror, first
        await renamed(0)  # the document planned once
        with cyclic_garbage() as garbage:
            for n in range(1, 4):
                await renamed(n)
            gc.collect()
            kinds = Counter(type(o).__name__ for o in garbage)
        assert kinds["Record"] == 0, kinds.most_common(12)
        assert sum(kinds.values()) == 0, kinds.most_common(12)
    finally:
        await stream.aclose()
        await state.hub.close()
