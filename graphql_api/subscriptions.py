"""Subscriptions over graphql-transport-ws, gapless from a cursor, fed by the process's
``EventHub`` (hub.py: one Redis subscription and one reader of ``chain_events`` for all).

``events(filter, after)``: the client passes the ``eventId`` of the last event it saw
(or nothing: from now). The order of work makes the stream gapless:

1. register with the hub, so that every event read from now on reaches us;
2. read ``chain_events`` past the cursor, in id order, as the viewer may see them, and
   send it (the replay);
3. then take the hub's batches: keep the rows past the last id sent that match the
   filter and that the viewer may see *now*, and send them.

On graphql-transport-ws the hub may do step 3 itself while this task waits for a batch
(hub.py's push, fanout.DirectDelivery.prepare): it sends the rows and moves ``last`` on, only
while nothing is queued or being written, so the order and the cursor hold either way.

An event is either committed before step 2 reads (and replayed) or read by the hub after
step 1 (and in a batch): none falls between. Sending only ids greater than the last one
sent drops the doubles. Visibility is decided when a row is sent (Public mirrors at
once, private ones by one SQL statement per batch), so a grant revoked on chain stops
the stream once the indexer commits the revocation. A subscriber the hub had to drop
(it fell behind) goes back to step 2 from its last id.

``mirror(address)`` and ``trainingJob(address)`` send the current row, then the row
again after each event that names it; ``trainingProgress(job)`` (progress.py) reads the job's
status again after each such event, and its progress on a one-second clock besides.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from strawberry.types import Info

from graphql_api.store import events as event_sql

if TYPE_CHECKING:
    from graphql_api.fanout import DirectDelivery

REPLAY_BATCH = 500


async def gapless_events(
    info: Info, flt: event_sql.EventFilter, after: int | None, direct: DirectDelivery | None = None
) -> AsyncIterator[Any]:
    """Rows of chain_events past ``after`` that the viewer may see, each once, in id order: those that
    ``direct`` sends itself (fanout.py: pre-encoded, on graphql-transport-ws) are not yielded."""
    ctx = info.context
    state = ctx.state
    state.metrics.subscriptions.inc()
    try:
        with state.hub.subscribe() as sub:
            last = after or 0

            def push(batch: Sequence[Any]) -> bool:
                """The hub's batch sent from its own task (see hub.py) where no row needs more than memory
                (fanout.DirectDelivery.prepare); else False: this task sends it."""
                nonlocal last
                prepared = direct.prepare(batch, flt, last) if direct is not None else None
                if prepared is None:
                    return False
                last, writes = prepared
                if writes is not None:
                    sub.run_eagerly(writes)
                return True

            sub.push = push if direct is not None else None  # offered only while we wait in sub.next()
            if after is None:  # from now: registered, so every later event reaches us through the hub
                async with state.pool.acquire() as conn:
                    last = await event_sql.last_id(conn)
                batch = await sub.next()
            else:
                batch = None
            while True:
                rows = await (_from_database(info, flt, last) if batch is None else _from_batch(info, flt, last, batch))
                for row in rows:
                    last = row["id"]
                    ctx.refresh()
                    if direct is None or not await direct.send(row):
                        yield row
                    # a long replay is read in parts; what the hub read meanwhile is deduplicated by id
                batch = None if batch is None and len(rows) == REPLAY_BATCH else await sub.next()
    finally:
        state.metrics.subscriptions.dec()


async def _from_database(info: Info, flt: event_sql.EventFilter, last: int) -> list[Any]:
    query = event_sql.EventFilter(flt.mirror, flt.names, flt.from_slot, flt.to_slot, after_id=last)
    async with info.context.state.pool.acquire() as conn:
        return await event_sql.replay(conn, info.context.viewer, query, REPLAY_BATCH)


async def _from_batch(info: Info, flt: event_sql.EventFilter, last: int, batch: Sequence[Any]) -> list[Any]:
    wanted = [r for r in batch if r["id"] > last and flt.matches(r)]
    private = [r["id"] for r in wanted if not r["public"]]
    if not private:
        return wanted
    async with info.context.state.pool.acquire() as conn:
        allowed = await event_sql.visible_ids(conn, info.context.viewer, private)
    return [r for r in wanted if r["public"] or r["id"] in allowed]


async def row_changes(info: Info, mirror: str, touches: str | None, *, every_s: float | None = None) -> AsyncIterator[bool]:
    """Yields True at once, then after each event of ``mirror`` (naming ``touches`` when given); with
    ``every_s``, also False every ``every_s`` seconds (on a clock of its own: events of other mirrors,
    however many, do not put it off)."""
    state = info.context.state
    state.metrics.subscriptions.inc()
    loop = asyncio.get_running_loop()
    try:
        with state.hub.subscribe() as sub:
            yield True
            tick = loop.time() + every_s if every_s is not None else None
            while True:
                try:
                    # Subscriber.next is safe to cancel: a batch is taken only once it returns. (Not wait_for: on
                    # Python 3.11 it can swallow a cancellation that comes as the wait ends, and the
                    # subscription would outlive its client.)
                    async with asyncio.timeout_at(tick):
                        batch = await sub.next()
                except TimeoutError:
                    assert every_s is not None and tick is not None
                    tick = max(tick, loop.time()) + every_s
                    yield False
                    continue
                if batch is None or any(_touches(r, mirror, touches) for r in batch):
                    info.context.refresh()
                    yield True
    finally:
        state.metrics.subscriptions.dec()


def _touches(row: Any, mirror: str, touches: str | None) -> bool:
    return bool(row["mirror"] == mirror and (touches is None or touches in json.dumps(row["payload"])))
