"""Subscriptions over graphql-transport-ws, gapless from a cursor.

``events(filter, after)``: the client passes the ``eventId`` of the last event it saw
(or nothing: from now). The order of work makes the stream gapless:

1. subscribe to the Redis channel (``mirror:events`` or ``mirror:events:<mirror>``);
2. read ``chain_events`` past the cursor, in id order, and send it (the replay);
3. then every Redis message is a wake-up: read ``chain_events`` past the last id sent
   again and send what is new.

Every event is committed before the indexer publishes it, so an event is either
committed before step 2 reads (and replayed) or published after step 1 (and wakes step
3): none falls between. Sending only ids greater than the last one sent drops the
doubles that replay and live deliver. Reading from the database rather than trusting a
message also applies the viewer's access *now* (a grant revoked on chain stops the
stream once the indexer commits the revocation) and heals lost messages: when Redis
restarts, the subscriber reconnects with ``mirror_common.retry`` and reads past its
last id; with no message for ``IDLE_POLL`` seconds it reads anyway.

``mirror(address)`` and ``trainingJob(address)`` send the current row, then the row
again after each event that names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from strawberry.types import Info

from graphql_api.store import events as event_sql
from mirror_common.retry import REDIS, Backoff

log = structlog.get_logger("graphql_api.subscriptions")

CHANNEL = "mirror:events"
IDLE_POLL = 5.0  # seconds without a message before the database is read anyway
REPLAY_BATCH = 500


async def wakeups(redis_url: str, channel: str) -> AsyncIterator[dict[str, Any] | None]:
    """Messages of ``channel`` (parsed JSON), and ``None`` after each (re)connection and
    after ``IDLE_POLL`` seconds of silence: the caller then reads what it may have missed."""
    backoff = Backoff(REDIS)
    while True:
        client = aioredis.from_url(redis_url, socket_connect_timeout=2)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            backoff.reset()
            yield None
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=IDLE_POLL)
                if msg is None:
                    yield None
                    continue
                try:
                    data = json.loads(msg["data"])
                except (ValueError, TypeError):
                    data = None
                yield data if isinstance(data, dict) else None
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
            log.warning("subscription_redis_lost", channel=channel, error=str(e) or type(e).__name__)
            await backoff.wait()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis 8.1's PubSub.aclose has no annotations
            with contextlib.suppress(Exception):
                await client.aclose()


async def gapless_events(info: Info, flt: event_sql.EventFilter, after: int | None) -> AsyncIterator[Any]:
    """Rows of chain_events past ``after`` that the viewer may see, each once, in id order."""
    ctx = info.context
    state = ctx.state
    metrics = state.metrics
    channel = f"{CHANNEL}:{flt.mirror}" if flt.mirror else CHANNEL
    metrics.subscriptions.inc()
    try:
        last = after
        async for _ in wakeups(state.settings.redis_url, channel):
            if last is None:  # from now: the subscription is open, so later events will wake us
                async with state.pool.acquire() as conn:
                    last = await event_sql.last_id(conn)
                continue
            while True:
                query = event_sql.EventFilter(flt.mirror, flt.names, flt.from_slot, flt.to_slot, after_id=last)
                async with state.pool.acquire() as conn:
                    rows = await event_sql.replay(conn, ctx.viewer, query, REPLAY_BATCH)
                for row in rows:
                    if row["id"] > last:
                        last = row["id"]
                        ctx.refresh()
                        yield row
                if len(rows) < REPLAY_BATCH:
                    break
    finally:
        metrics.subscriptions.dec()


async def row_changes(info: Info, mirror: str, touches: str | None) -> AsyncIterator[None]:
    """Yields once at once, then after each event of ``mirror`` (naming ``touches`` when given)."""
    state = info.context.state
    state.metrics.subscriptions.inc()
    try:
        first = True
        async for msg in wakeups(state.settings.redis_url, f"{CHANNEL}:{mirror}"):
            if first or msg is None or touches is None or touches in json.dumps(msg.get("data")):
                first = False
                info.context.refresh()
                yield None
            await asyncio.sleep(0)
    finally:
        state.metrics.subscriptions.dec()
