"""Stage 5: after commit, one JSON message per event on Redis ``mirror:events`` and
``mirror:events:<mirror address>`` (DESIGN.md §5).

The publisher follows ``chain_events.id`` from a watermark kept in ``publish_cursor``,
so it only ever sees committed rows, in commit order, and the watermark moves only
once Redis took the messages. Redis down: events are still committed (the commit
path does not wait for Redis); the publisher retries with backoff and resumes from
its watermark when Redis returns, also across indexer restarts. Delivery is at least
once: a message carries (signature, event_index) for consumers to drop repeats.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mirror_common.pg import Pool
from mirror_common.retry import REDIS, Backoff

log = structlog.get_logger("indexer.publish")

CHANNEL = "mirror:events"
_CURSOR = "redis"


def message(row: Any) -> dict[str, Any]:
    payload = row["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    return {
        "id": row["id"],
        "signature": row["signature"],
        "event_index": row["event_index"],
        "slot": row["slot"],
        "block_time": row["block_time_unix"],
        "name": row["name"],
        "mirror": payload.get("mirror"),
        "data": payload,
    }


class Publisher:
    def __init__(self, pool: Pool, redis_url: str, *, batch: int = 1000, metrics: Any = None) -> None:
        self.pool = pool
        # No retries inside redis-py (its default backs off up to 10 s a try): the publisher's
        # own REDIS policy decides, so publishing resumes as soon as Redis is back.
        self.redis = aioredis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        self.batch = batch
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.published = 0

    async def close(self) -> None:
        await self.redis.aclose()

    async def publish_pending(self) -> int:
        """Publishes committed events past the watermark; returns how many went out."""
        total = 0
        while True:
            async with self.pool.acquire() as conn:
                last = await conn.fetchval("SELECT last_event_id FROM publish_cursor WHERE name = $1", _CURSOR) or 0
                rows = await conn.fetch(
                    """SELECT id, signature, event_index, slot, block_time_unix, name, payload FROM chain_events
                       WHERE id > $1 ORDER BY id LIMIT $2""",
                    last,
                    self.batch,
                )
            if not rows:
                return total
            pipe = self.redis.pipeline(transaction=False)
            for r in rows:
                msg = message(r)
                text = json.dumps(msg, separators=(",", ":"))
                pipe.publish(CHANNEL, text)
                if msg["mirror"]:
                    pipe.publish(f"{CHANNEL}:{msg['mirror']}", text)
            await pipe.execute()
            async with self.pool.acquire() as conn:
                await conn.execute(
                    """INSERT INTO publish_cursor (name, last_event_id) VALUES ($1, $2)
                       ON CONFLICT (name) DO UPDATE SET last_event_id = GREATEST(publish_cursor.last_event_id, EXCLUDED.last_event_id),
                           updated_at = now()""",
                    _CURSOR,
                    rows[-1]["id"],
                )
            total += len(rows)
            self.published += len(rows)
            if self.metrics:
                self.metrics.published.inc(len(rows))

    async def run(self) -> None:
        backoff = Backoff(REDIS)
        while True:
            try:
                await self.publish_pending()
                backoff.reset()
                try:
                    await asyncio.wait_for(self.wake.wait(), 1.0)
                except TimeoutError:
                    pass
                self.wake.clear()
            except (aioredis.RedisError, OSError) as e:
                if self.metrics:
                    self.metrics.errors.labels("redis").inc()
                log.warning("redis_unavailable", error=str(e), retry_in=round(await backoff.wait(), 2))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - the database or anything else: never let publishing die
                if self.metrics:
                    self.metrics.errors.labels("publish").inc()
                log.warning("publisher_error", error=f"{type(e).__name__}: {e}", retry_in=round(await backoff.wait(), 2))
