"""A request leaves nothing to the cyclic collector: what it read and built is freed by reference
counting once it is answered. graphql-core's executor sat in a reference cycle (its async helpers
held its methods) and held the request's context, hence its loaders, hence every row of a nested
100-mirror query, until a collector pass (3-4 ms of CPU a request, bench/api/README.md). Now the
loaders are released (``Context.release``) and the helpers hold the executor weakly
(``PlanExecutor.__init__``). In process, over a real PostgreSQL, through ``app.execute_http``."""

from __future__ import annotations

import contextlib
import gc
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from graphql_api.app import execute_http
from graphql_api.context import Context
from graphql_api.schema import build_schema
from mirror_common.pg import Pool, create_pool
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
