"""Row lookups by key, coalesced across the requests in flight.

Each request has its own DataLoaders (loaders.py): what one viewer may see is never cached
for another. Their lookups by key (a mirror by address, a job, a grant, ...) still meet
here: the lookups of the same kind, for the same viewer, that arrive in the same turn of
the event loop become one statement. Under load many requests are read from their sockets
in one turn, so a hundred concurrent ``mirror(address)`` cost a few statements, not a
hundred pool checkouts and round trips, and PostgreSQL, on the same cores, parses and
plans a few statements instead of a hundred.

The viewer is part of the key because the statements filter by what it may see. Every
waiter receives every row of its group and picks its own keys. A statement that fails
fails every request that waited on it, each with that error, as its own statement would
have.

``ProgressReads`` does the same for Redis, over time rather than a turn: a training job's
progress key (``trainingProgress``, progress.py) is read at most once per ``FRESH_S`` in a
process, however many queries and subscriptions ask, so a thousand subscribers of one job
cost one GET a second. Progress is the same for every viewer (who may see it is decided
before the read), so the key is the job alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from graphql_api.eager import retrieved
from mirror_common.pg import Connection, Pool
from trainer.progress import progress_key

if TYPE_CHECKING:
    from graphql_api.state import Metrics

Fetch = Callable[[Connection, Any, list[Any]], Awaitable[Sequence[Any]]]


@dataclass(eq=False)
class _Group:
    keys: dict[Hashable, None] = field(default_factory=dict)  # ordered, unique
    waiters: list[asyncio.Future[Sequence[Any]]] = field(default_factory=list)


class Coalescer:
    def __init__(self, pool: Pool, metrics: Metrics) -> None:
        self.pool = pool
        self.metrics = metrics  # statements run, and the lookups they served (mirror_api_lookups_total)
        self._open: dict[tuple[Fetch, Any], _Group] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def rows(self, fetch: Fetch, viewer: Any, keys: Sequence[Hashable]) -> Sequence[Any]:
        """The rows ``fetch(conn, viewer, keys)`` returns, fetched with the others of this turn (possibly more)."""
        loop = asyncio.get_running_loop()
        group = self._open.get((fetch, viewer))
        if group is None:
            group = self._open[(fetch, viewer)] = _Group()
            loop.call_soon(self._close, fetch, viewer)
        group.keys.update(dict.fromkeys(keys))
        waiter: asyncio.Future[Sequence[Any]] = loop.create_future()
        group.waiters.append(waiter)
        return await waiter

    def _close(self, fetch: Fetch, viewer: Any) -> None:
        group = self._open.pop((fetch, viewer))
        task = asyncio.get_running_loop().create_task(self._run(fetch, viewer, group))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, fetch: Fetch, viewer: Any, group: _Group) -> None:
        self.metrics.lookup_statements.inc()
        self.metrics.lookups.inc(len(group.waiters))
        try:
            async with self.pool.acquire() as conn:
                rows = await fetch(conn, viewer, list(group.keys))
        except Exception as e:  # noqa: BLE001 - each waiting request fails with it, as its own statement would have
            for waiter in group.waiters:
                if not waiter.done():
                    waiter.set_exception(e)
            return
        except BaseException:  # cancelled (the app is stopping): so are the requests waiting on it
            for waiter in group.waiters:
                waiter.cancel()
            raise
        for waiter in group.waiters:
            if not waiter.done():  # a request that went away meanwhile
                waiter.set_result(rows)


FRESH_S = 1.0  # a read of a job's progress key serves every asker for this long
KEPT = 1024  # reads remembered before the stale ones are dropped


class ProgressReads:
    """Reads of training-progress keys, shared per job for ``FRESH_S`` (module docstring)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._recent: dict[str, tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, job: str) -> Any:
        now = asyncio.get_running_loop().time()
        recent = self._recent.get(job)
        if recent is None or now - recent[0] >= FRESH_S:
            if len(self._recent) >= KEPT:
                self._recent = {k: v for k, v in self._recent.items() if now - v[0] < FRESH_S}
            recent = self._recent[job] = (now, asyncio.ensure_future(self.redis.get(progress_key(job))))
            recent[1].add_done_callback(retrieved)  # its error is every waiter's, and seen even when all have gone
        return await asyncio.shield(recent[1])  # a waiter that leaves does not cancel the others' read
