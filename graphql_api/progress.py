"""``trainingProgress``: a training job's progress as its trainer reports it in Redis
(``trainer.progress``: key ``mirror:training-progress:<job>``, about once a second while it trains).

- **Seen as the job is.** Progress is served only where the viewer may see the job itself
  (``loaders.job``: the mirror's VIEW rule, public mirrors to anyone, private ones to the owner and
  effective VIEW grantees); otherwise null, as ``trainingJob`` is. A training-loss series, every
  second, of a private mirror's job is more than the chain publishes (one final evaluation loss, and
  nothing for a job that fails or is cancelled).
- **Another process's data, checked.** The value is decoded by ``ProgressRecord.decode`` (types,
  ranges, finite numbers, addresses, size) and must name the job asked for; anything else is null and
  one log line (``training_progress_malformed``), never an error or a crash. Redis out of reach is
  null too (``training_progress_unavailable``): progress is ephemeral, and nothing known is null.
- **One read per job, however many ask.** The key is read at most once a second for a job in this
  process (``coalesce.ProgressReads``): a thousand subscribers of one job cost Redis one GET a second,
  through the API's one Redis client, no pub/sub.
- **The subscription ends**, once the job is no longer Requested or Running (or no longer visible):
  it sends the value then, if it changed, and completes. A job the viewer cannot see, or that the read
  models do not hold, gets null and the end. Its row is read again only after an event that names the
  job (the process's event hub, ``subscriptions.row_changes``), the progress on a one-second clock. It
  counts as an open subscription (``mirror_api_subscriptions_active``) and each start as a request of
  the rate limits, as every subscription does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
import structlog
from strawberry.types import Info

from graphql_api.state import ApiState
from graphql_api.subscriptions import row_changes
from graphql_api.types import TrainingProgress
from trainer.progress import ProgressRecord

log = structlog.get_logger("graphql_api")

OPEN = ("Requested", "Running")
POLL_S = 1.0  # how often a subscription looks at the progress


class ProgressSource:
    """One job's progress, for one query or subscription (which logs each kind of trouble once)."""

    def __init__(self, state: ApiState, job: str) -> None:
        self.reads = state.progress_reads
        self.job = job
        self.warned: set[str] = set()

    async def read(self) -> TrainingProgress | None:
        try:
            raw = await self.reads.get(self.job)
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


async def progress_now(info: Info, job: str) -> TrainingProgress | None:
    """The query: the job's progress, if the viewer may see the job."""
    if await info.context.loaders.job.load(job) is None:
        return None
    return await ProgressSource(info.context.state, job).read()


async def progress_changes(info: Info, job: str) -> AsyncIterator[TrainingProgress | None]:
    """The job's progress now, then each change, until the job is no longer open (module docstring)."""
    row = await info.context.loaders.job.load(job)
    if row is None:  # unknown, or not the viewer's to see
        yield None
        return
    source = ProgressSource(info.context.state, job)
    if row["status"] not in OPEN:
        yield await source.read()
        return
    previous: Any = ()  # nothing sent yet
    async for touched in row_changes(info, row["mirror"], job, every_s=POLL_S):
        ended = False
        if touched:
            # The first pass reads the row again too: an event between the read above and the hub's registration is not missed.
            row = await info.context.loaders.job.load(job)
            if row is None:  # no longer the viewer's to see (the mirror changed hands, a grant ended)
                yield None
                return
            ended = row["status"] not in OPEN
        current = await source.read()
        if current != previous:
            previous = current
            yield current
        if ended:
            return
