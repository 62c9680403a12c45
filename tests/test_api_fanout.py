"""graphql_api/fanout.py in process, over a real PostgreSQL: subscribers executing the same event
at the same moment share one execution, also while it is still running (its nested ``mirror``
field reads the database); a subscriber that leaves mid-execution does not take the others'
results with it; an execution that ends in errors is not handed to anyone else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import parse

from graphql_api.coalesce import Coalescer
from graphql_api.context import Context
from graphql_api.fanout import SharedEventExecutor, SharedResults
from graphql_api.schema import build_schema
from graphql_api.state import Metrics
from graphql_api.types import ChainEvent
from mirror_common.config import Settings
from mirror_common.pg import Pool, create_pool
from tests.api_support import address, seed

DOCUMENT = parse("subscription { events { eventId name mirror { name } } }")


class State:
    """What the executor and the loaders read of the app's state (graphql_api.state.ApiState)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.settings = Settings()
        self.metrics = Metrics()
        self.shared_results = SharedResults()
        self.lookups = Coalescer(pool)


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database)
    yield pool
    await pool.close()


def event_row(event_id: int, mirror: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "signature": f"sig-{event_id}",
        "event_index": 0,
        "slot": event_id,
        "block_time_unix": 1_700_000_000,
        "name": "MirrorUpdated",
        "payload": {"mirror": mirror},
        "commitment": "confirmed",
        "mirror": mirror,
        "public": True,
    }


def subscribers(state: State, n: int, viewer: str | None = None) -> list[SharedEventExecutor]:
    schema = build_schema(state.settings)._schema
    out = []
    for _ in range(n):
        built = SharedEventExecutor.build(schema, DOCUMENT, None, Context(state, viewer, "rid"))  # type: ignore[arg-type]
        assert isinstance(built, SharedEventExecutor), built
        out.append(built)
    return out


def counts(state: State) -> tuple[float, float]:
    return state.metrics.results_executed._value.get(), state.metrics.results_shared._value.get()


async def execute(executor: SharedEventExecutor, row: dict[str, Any]) -> Any:
    result = executor.build_per_event_executor(ChainEvent.of(row)).execute_operation(False)
    return await result if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future) else result


async def test_one_execution_per_event_is_shared_while_running_and_survives_the_first_subscriber_leaving(pool: Pool) -> None:
    async with pool.acquire() as conn:
        mirror = (await seed(conn, mirrors=1, owner=address()))[0]
    state = State(pool)
    expected = {"events": {"eventId": "1", "name": "MirrorUpdated", "mirror": {"name": "mirror 0"}}}

    # Five subscribers, one event (the same row object, as a hub batch hands it out): one execution.
    row = event_row(1, mirror)
    results = await asyncio.gather(*(execute(s, row) for s in subscribers(state, 5)))
    assert all(r.errors is None and r.data == expected for r in results), results
    assert counts(state) == (1, 4)

    # The first leaves (its task cancelled) while its execution waits on the database: the
    # four waiting on it execute for themselves and each still gets the right answer.
    row = event_row(2, mirror)
    before = counts(state)
    first, *others = subscribers(state, 5)
    leaving = asyncio.create_task(execute(first, row))
    await asyncio.sleep(0)  # it has started and registered its pending execution
    waiting = [asyncio.create_task(execute(s, row)) for s in others]
    await asyncio.sleep(0)
    leaving.cancel()
    results = await asyncio.gather(*waiting)
    assert all(r.errors is None and r.data["events"]["mirror"] == {"name": "mirror 0"} for r in results), results
    assert leaving.cancelled()
    after = counts(state)
    assert (after[0] - before[0], after[1] - before[1]) == (1, 4), "the four waited on the first's execution"
    assert not state.shared_results.entries.get((id(first.operation), b"{}", None, id(row))), "a cancelled execution is not kept"

    # Another viewer is executed apart, even for the same row.
    row = event_row(3, mirror)
    before = counts(state)
    await asyncio.gather(*(execute(s, row) for s in subscribers(state, 2) + subscribers(state, 2, viewer=address())))
    after = counts(state)
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)


async def test_an_execution_with_errors_is_not_handed_on(pool: Pool, database: str) -> None:
    """A failing nested read (here: through a pool already closed) is that subscriber's own error, not a result kept for others."""
    state = State(pool)
    row = event_row(4, address())
    closed = await create_pool(database)
    await closed.close()
    state.pool, state.lookups = closed, Coalescer(closed)
    first = await execute(subscribers(state, 1)[0], row)
    assert first.errors, first
    assert not state.shared_results.entries, "an errored result is not kept"
    state.pool, state.lookups = pool, Coalescer(pool)
    second = await execute(subscribers(state, 1)[0], row)
    assert second.errors is None and second.data["events"]["mirror"] is None  # no such mirror: null, no error
