"""``trainingProgress``: a training job's progress as its trainer reports it in Redis
(``trainer.progress``: key ``mirror:training-progress:<job>``, about once a second while it trains).

- **Public.** Anyone may read any job's progress: step, tokens and loss reveal no more than the chain
  publishes when the job completes (its tokens trained and final loss), and the job's status, which
  decides when a subscription ends, is public on chain too.
- **Another process's data, checked.** The value is decoded by ``ProgressRecord.decode`` (types,
  ranges, finite numbers, addresses, size) and must name the job asked for; anything else is null and
  one log line (``training_progress_malformed``), never an error or a crash. Redis out of reach is
  null too (``training_progress_unavailable``): progress is ephemeral, and nothing known is null.
- **The subscription ends**, once the read models (``training_jobs``) no longer hold the job
  Requested or Running: it sends the value then, if it changed, and completes. A job they do not
  hold (unknown, or not yet indexed) gets the value now and the end. Its status is read again only
  after an event that names the job (the process's event hub, ``subscriptions.row_changes``), and
  the Redis key about once a second: one GET per subscriber per second, no connection of its own
  (the API's one Redis client), no pub/sub. It counts as an open subscription
  (``mirror_api_subscriptions_active``) and each start as a request of the rate limits, as every
  subscription does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from strawberry.types import Info

from graphql_api.state import ApiState
from graphql_api.store import jobs as job_sql
from graphql_api.subscriptions import row_changes
from graphql_api.types import TrainingProgress
from trainer.progress import ProgressRecord, progress_key

log = structlog.get_logger("graphql_api")

OPEN = ("Requested", "Running")
POLL_S = 1.0  # how often a subscription reads the key


class ProgressSource:
    """One job's progress from Redis, for one query or subscription (which logs each kind of trouble once)."""

    def __init__(self, state: ApiState, job: str) -> None:
        self.redis = state.redis
        self.job = job
        self.warned: set[str] = set()

    async def read(self) -> TrainingProgress | None:
        try:
            raw = await self.redis.get(progress_key(self.job))
        except (aioredis.RedisError, OSError) as e:
            self._warn("training_progress_unavailable", f"{type(e).__name__}: {e}")
            return None
        if raw is None:
            return None
        try:
            record = ProgressRecord.decode(raw)
            if record.job != self.job:
                raise ValueError(f"it names job {record.job}")
        except ValueError as e:
            self._warn("training_progress_malformed", str(e))
            return None
        return TrainingProgress.of(record)

    def _warn(self, event: str, error: str) -> None:
        if event not in self.warned:
            self.warned.add(event)
            log.warning(event, job=self.job, error=error[:200])


async def progress_changes(info: Info, job: str) -> AsyncIterator[TrainingProgress | None]:
    """The job's progress now, then each change, until the job is no longer open (module docstring)."""
    state = info.context.state
    source = ProgressSource(state, job)
    row = await _mirror_and_status(state, job)
    if row is None or row["status"] not in OPEN:
        yield await source.read()
        return
    previous: Any = ()  # nothing sent yet
    async for touched in row_changes(info, row["mirror"], job, every_s=POLL_S):
        # The first pass (touched) reads the status again: an event between the read above and the hub's registration is not missed.
        ended = touched and not await _still_open(state, job)
        current = await source.read()
        if current != previous:
            previous = current
            yield current
        if ended:
            return


async def _mirror_and_status(state: ApiState, job: str) -> Any:
    async with state.pool.acquire() as conn:
        return await job_sql.mirror_and_status(conn, job)


async def _still_open(state: ApiState, job: str) -> bool:
    row = await _mirror_and_status(state, job)
    return row is not None and row["status"] in OPEN
