"""DataLoaders, created for each request (so nothing a viewer may see is cached for
another): every relation of a page is fetched in one statement for all its parents.

``LOADERS`` style: one batch function per relation, each one call into ``store``. A
nested connection's key is ``(parent, PageArgs)``; a batch groups keys by their page
arguments, one statement per distinct page (a single one in practice). So a page of
100 mirrors with their grants, jobs and latest model costs the same few statements as
a page of 2.

``BatchLoader`` is a DataLoader whose keys wait on their batch's one future where the executor
steps their resolvers (``eager.gather_eagerly``). Strawberry's gives each key a future and a
callback of its own: for a page of 100 mirrors that is 600 futures, and waiting on them cost
more than the statements. A key awaited straight from a task waits on a shielded copy, so that
cancelling that task cancels it at once and nobody else's batch.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cache, cached_property
from typing import Any, Generic, TypeVar

from graphql_api.coalesce import Coalescer
from graphql_api.eager import retrieved, stepping
from graphql_api.pagination import PageArgs
from graphql_api.store import chain, events, grants, jobs, mirrors, models
from mirror_common.pg import Connection, Pool

K = TypeVar("K")
V = TypeVar("V")
PageKey = tuple[str, PageArgs]


_MISSING = object()


class Batch(asyncio.Future[None]):
    """The keys of one batch and the future they all wait on, done when their values are in."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.keys: list[Any] = []


class BatchLoader(Generic[K, V]):
    """``await load(key)``: the value for ``key``; the keys asked for in one turn of the loop are fetched
    together (``fetch(keys)`` -> values in the same order). Values and errors are kept for the request."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[Sequence[V]]]) -> None:
        self.fetch = fetch
        self.values: dict[K, V] = {}
        self.batches: dict[K, Batch] = {}  # every key asked for but not answered: its batch (failed, or under way)
        self.open: Batch | None = None  # the batch that takes new keys until it is fetched

    async def load(self, key: K) -> V:
        value = self.values.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]  # not the sentinel: a V
        batch = self.batches.get(key)
        if batch is None:
            batch = self.open
            if batch is None:
                loop = asyncio.get_running_loop()
                batch = self.open = Batch(loop)
                loop.call_soon(self._dispatch, batch)
            batch.keys.append(key)
            self.batches[key] = batch
        if stepping():
            await batch  # gather_eagerly waits on it for every key of the batch, with asyncio.wait (eager.py)
        else:
            await asyncio.shield(batch)  # a task waits here: cancelling it must not cancel the others' batch
        return self.values[key]  # after the batch's error, if any, was raised

    def _dispatch(self, batch: Batch) -> None:
        self.open = None
        task = asyncio.ensure_future(self._fetch(batch))
        task.add_done_callback(retrieved)  # its error is the batch's, raised to every waiter

    async def _fetch(self, batch: Batch) -> None:
        try:
            values = await self.fetch(batch.keys)
            if len(values) != len(batch.keys):
                raise ValueError(f"a batch of {len(batch.keys)} keys got {len(values)} values")
        except BaseException as e:
            if isinstance(e, Exception):
                batch.set_exception(e)
            else:  # the fetch itself was cancelled (the app stopping): so is its batch
                batch.cancel()
            raise
        self.values.update(zip(batch.keys, values, strict=True))
        for key in batch.keys:
            del self.batches[key]
        batch.set_result(None)


@cache
def _any_viewer(
    fetch: Callable[[Connection, list[K]], Awaitable[Sequence[Any]]],
) -> Callable[[Connection, Any, list[K]], Awaitable[Sequence[Any]]]:
    """A lookup that does not depend on the viewer, in the coalescer's shape; one object per lookup, so they group."""
    return lambda conn, viewer, keys: fetch(conn, keys)


class Loaders:
    """One loader per relation, each made on first use: a request touches two or three of them,
    and making all of them for every request was a tenth of the time of a small query."""

    def __init__(self, pool: Pool, viewer: str | None, program_id: str, lookups: Coalescer) -> None:
        self.pool = pool
        self.lookups = lookups  # lookups by key meet other requests' there (coalesce.py)
        self.viewer = viewer
        self.program_id = program_id
        self._cursors: asyncio.Future[dict[str, int]] | None = None

    @cached_property
    def mirror(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._seen_rows(mirrors.by_addresses, self.viewer, "address"))

    @cached_property
    def grant(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._seen_rows(grants.by_addresses, self.viewer, "address"))

    @cached_property
    def job(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._seen_rows(jobs.by_addresses, self.viewer, "address"))

    @cached_property
    def model(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._seen_rows(models.by_addresses, self.viewer, "address"))

    @cached_property
    def event(self) -> BatchLoader[int, Any]:
        return BatchLoader(self._seen_rows(events.by_ids, self.viewer, "id"))

    @cached_property
    def trainer(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._rows(chain.trainers_by_addresses, "address"))

    @cached_property
    def config(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._rows(chain.configs, "address"))

    @cached_property
    def model_by_job(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._rows(models.by_jobs, "job"))

    @cached_property
    def latest_model(self) -> BatchLoader[str, Any]:
        return BatchLoader(self._rows(models.latest, "mirror"))

    @cached_property
    def grants_page(self) -> BatchLoader[PageKey, list[Any]]:
        viewer = self.viewer
        return BatchLoader(self._pages(lambda c, k, a: grants.pages_per_mirror(c, viewer, k, a)))

    @cached_property
    def jobs_page(self) -> BatchLoader[PageKey, list[Any]]:
        return BatchLoader(self._pages(jobs.pages_per_mirror))

    @cached_property
    def models_page(self) -> BatchLoader[PageKey, list[Any]]:
        return BatchLoader(self._pages(models.pages_per_mirror))

    @cached_property
    def events_page(self) -> BatchLoader[PageKey, list[Any]]:
        return BatchLoader(self._pages(events.pages_per_mirror))

    @cached_property
    def grants_count(self) -> BatchLoader[str, int]:
        return BatchLoader(self._counts(grants.counts_per_mirror))

    @cached_property
    def jobs_count(self) -> BatchLoader[str, int]:
        return BatchLoader(self._counts(jobs.counts_per_mirror))

    @cached_property
    def models_count(self) -> BatchLoader[str, int]:
        return BatchLoader(self._counts(models.counts_per_mirror))

    @cached_property
    def events_count(self) -> BatchLoader[str, int]:
        return BatchLoader(self._counts(events.counts_per_mirror))

    async def run(self, fn: Callable[[Connection], Awaitable[Any]]) -> Any:
        return await _run(self.pool, fn)

    def _rows(
        self, fetch: Callable[[Connection, list[K]], Awaitable[Sequence[Any]]], key: str
    ) -> Callable[[list[K]], Awaitable[list[Any]]]:
        return self._seen_rows(_any_viewer(fetch), None, key)

    # The batch functions below hold what they need, never ``self``: a loader -> its function -> the Loaders -> the
    # loader would be a reference cycle, and then every row a request read would wait for the cyclic collector.

    def _seen_rows(
        self, fetch: Callable[[Connection, str | None, list[K]], Awaitable[Sequence[Any]]], viewer: str | None, key: str
    ) -> Callable[[list[K]], Awaitable[list[Any]]]:
        lookups = self.lookups

        async def load(keys: list[K]) -> list[Any]:
            rows = await lookups.rows(fetch, viewer, keys)
            by_key = {r[key]: r for r in rows}
            return [by_key.get(k) for k in keys]

        return load

    def _pages(
        self, fetch: Callable[[Connection, list[str], PageArgs], Awaitable[dict[str, list[Any]]]]
    ) -> Callable[[list[PageKey]], Awaitable[list[list[Any]]]]:
        pool = self.pool

        async def load(keys: list[PageKey]) -> list[list[Any]]:
            groups: dict[PageArgs, list[str]] = defaultdict(list)
            for parent, args in keys:
                groups[args].append(parent)
            results: dict[PageKey, list[Any]] = {}
            for args, parents in groups.items():
                pages = await _run(pool, lambda c: fetch(c, sorted(set(parents)), args))  # noqa: B023 - awaited at once
                results.update({(p, args): rows for p, rows in pages.items()})
            return [results.get(k, []) for k in keys]

        return load

    def _counts(self, fetch: Callable[[Connection, list[str]], Awaitable[dict[str, int]]]) -> Callable[[list[str]], Awaitable[list[int]]]:
        pool = self.pool

        async def load(keys: list[str]) -> list[int]:
            counts = await _run(pool, lambda c: fetch(c, keys))
            return [counts.get(k, 0) for k in keys]

        return load

    async def cursors(self) -> dict[str, int]:
        """The indexer's cursor slots, read once per request (every row's ``commitment`` needs them)."""
        if self._cursors is None:
            self._cursors = asyncio.ensure_future(self.run(lambda c: chain.cursors(c, self.program_id)))
        return await self._cursors


async def _run(pool: Pool, fn: Callable[[Connection], Awaitable[Any]]) -> Any:
    async with pool.acquire() as conn:
        return await fn(conn)
