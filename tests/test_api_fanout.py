"""graphql_api/fanout.py in process, over a real PostgreSQL: subscribers executing the same event
at the same moment share one execution, also while it is still running (its nested ``mirror``
field reads the database); a subscriber that leaves mid-execution does not take the others'
results with it; an execution that ends in errors is not handed to anyone else; and what
``DirectDelivery.prepare`` hands the hub for a batch (the messages each subscriber would get,
worked out once per group of equal inputs, or None where the subscription's task must do it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from graphql import parse

from graphql_api.coalesce import Coalescer
from graphql_api.context import Context
from graphql_api.fanout import DirectDelivery, SharedEventExecutor
from graphql_api.schema import build_schema
from graphql_api.store.events import EventFilter
from graphql_api.types import ChainEvent
from mirror_common.pg import Pool, create_pool
from tests.api_support import InProcessState as State
from tests.api_support import address, seed

DOCUMENT = parse("subscription { events { eventId name mirror { name } } }")


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


def subscribers(state: State, n: int, viewer: str | None = None, document: Any = DOCUMENT) -> list[SharedEventExecutor]:
    schema = build_schema(state.settings)._schema
    out = []
    for _ in range(n):
        built = SharedEventExecutor.build(schema, document, None, Context(state, viewer, "rid"))  # type: ignore[arg-type]
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
    state.pool, state.lookups = closed, Coalescer(closed, state.metrics)
    first = await execute(subscribers(state, 1)[0], row)
    assert first.errors, first
    assert not state.shared_results.entries, "an errored result is not kept"
    state.pool, state.lookups = pool, Coalescer(pool, state.metrics)
    second = await execute(subscribers(state, 1)[0], row)
    assert second.errors is None and second.data["events"]["mirror"] is None  # no such mirror: null, no error


PLAIN = parse("subscription { events { eventId name } }")


class Socket:
    """What DirectDelivery writes through: Strawberry's graphql-transport-ws handler's ``websocket.send_raw``
    and ``operations`` (app.TransportWS), here a list of the messages written."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.websocket = self
        self.operations: dict[str, Any] = {}

    async def send_raw(self, message: bytes) -> None:
        self.sent.append(message)


class Operation:
    def __init__(self, socket: Socket, operation_id: str) -> None:
        self.id, self.completed = operation_id, False
        socket.operations[operation_id] = self


def delivery(executor: SharedEventExecutor, operation_id: str) -> tuple[DirectDelivery, Socket]:
    socket = Socket()
    return DirectDelivery(executor, socket, Operation(socket, operation_id)), socket


async def test_prepare_hands_the_hub_each_subscriber_s_messages_worked_out_once_per_group(pool: Pool) -> None:
    state = State(pool)
    m1, m2 = address(), address()
    batch = [event_row(10, m1), event_row(11, m2), event_row(12, m1)]
    on_m1 = EventFilter(mirror=m1)
    (a, a_socket), (b, b_socket), (c, c_socket) = (delivery(e, f"op-{i}") for i, e in enumerate(subscribers(state, 3, document=PLAIN)))

    # The document's execution has not run here yet: whether it finishes at once is unknown, so the task does it.
    assert a.prepare(batch, on_m1, 0) is None
    await a.send(batch[0])  # the subscription's task: executes (at once) and sends
    assert a_socket.sent == [b'{"id":"op-0","type":"next","payload":{"data":{"events":{"eventId":"10","name":"MirrorUpdated"}}}}']

    # The next batch (the hub's next read; here the same rows): prepare executes what is missing itself,
    # once for the group, and every member splices in its own id.
    batch = list(batch)
    executed = counts(state)[0]
    for sub in (a, b):
        last, writes = sub.prepare(batch, on_m1, 0)  # type: ignore[misc]
        assert last == 12 and writes is not None
        with pytest.raises(StopIteration):
            writes.send(None)
    assert a_socket.sent[1:] == [
        b'{"id":"op-0","type":"next","payload":{"data":{"events":{"eventId":"10","name":"MirrorUpdated"}}}}',
        b'{"id":"op-0","type":"next","payload":{"data":{"events":{"eventId":"12","name":"MirrorUpdated"}}}}',
    ]
    assert b_socket.sent == [m.replace(b'"op-0"', b'"op-1"') for m in a_socket.sent[1:]]
    assert counts(state)[0] - executed == 1, "row 12 executed once, for the group; row 10 was shared"

    # Another filter is another group; a cursor past some rows takes the rest; past all, nothing and no writes.
    batch = list(batch)
    last, writes = c.prepare(batch, EventFilter(mirror=m2), 0)  # type: ignore[misc]
    assert last == 11 and writes is not None
    with pytest.raises(StopIteration):
        writes.send(None)
    assert [orjson.loads(m)["payload"]["data"]["events"]["eventId"] for m in c_socket.sent] == ["11"]
    last, writes = c.prepare(batch, on_m1, 10)  # type: ignore[misc]
    with pytest.raises(StopIteration):
        writes.send(None)  # type: ignore[union-attr]
    assert last == 12 and orjson.loads(c_socket.sent[-1])["payload"]["data"]["events"]["eventId"] == "12"
    assert c.prepare(batch, on_m1, 12) == (12, None)

    # A private row is the task's (its visibility is a statement), for every member of the group.
    private = [event_row(13, m1) | {"public": False}]
    assert a.prepare(private, on_m1, 12) is None and b.prepare(private, on_m1, 12) is None

    # Only the current batch's work is kept: memory stays one batch, whatever the traffic.
    assert state.shared_results.batch is private and len(state.shared_results.batches) == 1

    # An operation the client completed meanwhile gets nothing more.
    b.operation.completed = True
    later = [event_row(14, m1)]
    assert b.prepare(later, on_m1, 12) == (14, None)
