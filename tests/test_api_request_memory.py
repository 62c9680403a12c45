"""What a request read is freed when it is answered, by reference counting, not left for the cyclic
collector: graphql-core's executor sits in a reference cycle of its own, and while it held the
request's loaders every row of a nested 100-mirror query waited for a collector pass (3-4 ms of CPU
a request, bench/api/README.md). In process, over a real PostgreSQL, through ``app.execute_http``."""

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


async def test_a_nested_query_s_rows_are_freed_when_it_is_answered(pool: Pool) -> None:
    state = InProcessState(pool)
    schema = build_schema(state.settings)
    await answer(schema, state)  # the document parsed, validated and planned once
    with cyclic_garbage() as garbage:
        for _ in range(3):
            await answer(schema, state)
        gc.collect()
        kinds = Counter(type(o).__name__ for o in garbage)
    assert kinds["Record"] == 0, kinds.most_common(12)  # none of the rows read (3 x 20 mirrors, 40 jobs, 40 models...)
    assert sum(kinds.values()) < 3 * 300, kinds.most_common(12)  # the executor's own cycle, not the request's data
