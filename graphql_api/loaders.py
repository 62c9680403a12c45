"""DataLoaders, created for each request (so nothing a viewer may see is cached for
another): every relation of a page is fetched in one statement for all its parents.

``LOADERS`` style: one batch function per relation, each one call into ``store``. A
nested connection's key is ``(parent, PageArgs)``; a batch groups keys by their page
arguments, one statement per distinct page (a single one in practice). So a page of
100 mirrors with their grants, jobs and latest model costs the same few statements as
a page of 2.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cache, cached_property
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from graphql_api.coalesce import Coalescer
from graphql_api.pagination import PageArgs
from graphql_api.store import chain, events, grants, jobs, mirrors, models
from mirror_common.pg import Connection, Pool

K = TypeVar("K")
PageKey = tuple[str, PageArgs]


@cache
def _any_viewer(
    fetch: Callable[[Connection, list[K]], Awaitable[Sequence[Any]]],
) -> Callable[[Connection, Any, list[K]], Awaitable[Sequence[Any]]]:
    """A lookup that does not depend on the viewer, in the coalescer's shape; one object per lookup, so they group."""
    return lambda conn, viewer, keys: fetch(conn, keys)


class Loaders:
    """One DataLoader per relation, each made on first use: a request touches two or three of them,
    and making all of them for every request was a tenth of the time of a small query."""

    def __init__(self, pool: Pool, viewer: str | None, program_id: str, lookups: Coalescer) -> None:
        self.pool = pool
        self.lookups = lookups  # lookups by key meet other requests' there (coalesce.py)
        self.viewer = viewer
        self.program_id = program_id
        self._cursors: asyncio.Future[dict[str, int]] | None = None

    @cached_property
    def mirror(self) -> DataLoader[str, Any]:
        return DataLoader(self._seen_rows(mirrors.by_addresses, self.viewer, "address"))

    @cached_property
    def grant(self) -> DataLoader[str, Any]:
        return DataLoader(self._seen_rows(grants.by_addresses, self.viewer, "address"))

    @cached_property
    def job(self) -> DataLoader[str, Any]:
        return DataLoader(self._seen_rows(jobs.by_addresses, self.viewer, "address"))

    @cached_property
    def model(self) -> DataLoader[str, Any]:
        return DataLoader(self._seen_rows(models.by_addresses, self.viewer, "address"))

    @cached_property
    def event(self) -> DataLoader[int, Any]:
        return DataLoader(self._seen_rows(events.by_ids, self.viewer, "id"))

    @cached_property
    def trainer(self) -> DataLoader[str, Any]:
        return DataLoader(self._rows(chain.trainers_by_addresses, "address"))

    @cached_property
    def config(self) -> DataLoader[str, Any]:
        return DataLoader(self._rows(chain.configs, "address"))

    @cached_property
    def model_by_job(self) -> DataLoader[str, Any]:
        return DataLoader(self._rows(models.by_jobs, "job"))

    @cached_property
    def latest_model(self) -> DataLoader[str, Any]:
        return DataLoader(self._rows(models.latest, "mirror"))

    @cached_property
    def grants_page(self) -> DataLoader[PageKey, list[Any]]:
        viewer = self.viewer
        return DataLoader(self._pages(lambda c, k, a: grants.pages_per_mirror(c, viewer, k, a)))

    @cached_property
    def jobs_page(self) -> DataLoader[PageKey, list[Any]]:
        return DataLoader(self._pages(jobs.pages_per_mirror))

    @cached_property
    def models_page(self) -> DataLoader[PageKey, list[Any]]:
        return DataLoader(self._pages(models.pages_per_mirror))

    @cached_property
    def events_page(self) -> DataLoader[PageKey, list[Any]]:
        return DataLoader(self._pages(events.pages_per_mirror))

    @cached_property
    def grants_count(self) -> DataLoader[str, int]:
        return DataLoader(self._counts(grants.counts_per_mirror))

    @cached_property
    def jobs_count(self) -> DataLoader[str, int]:
        return DataLoader(self._counts(jobs.counts_per_mirror))

    @cached_property
    def models_count(self) -> DataLoader[str, int]:
        return DataLoader(self._counts(models.counts_per_mirror))

    @cached_property
    def events_count(self) -> DataLoader[str, int]:
        return DataLoader(self._counts(events.counts_per_mirror))

    async def run(self, fn: Callable[[Connection], Awaitable[Any]]) -> Any:
        async with self.pool.acquire() as conn:
            return await fn(conn)

    def _rows(
        self, fetch: Callable[[Connection, list[K]], Awaitable[Sequence[Any]]], key: str
    ) -> Callable[[list[K]], Awaitable[list[Any]]]:
        return self._seen_rows(_any_viewer(fetch), None, key)

    def _seen_rows(
        self, fetch: Callable[[Connection, str | None, list[K]], Awaitable[Sequence[Any]]], viewer: str | None, key: str
    ) -> Callable[[list[K]], Awaitable[list[Any]]]:
        async def load(keys: list[K]) -> list[Any]:
            rows = await self.lookups.rows(fetch, viewer, keys)
            by_key = {r[key]: r for r in rows}
            return [by_key.get(k) for k in keys]

        return load

    def _pages(
        self, fetch: Callable[[Connection, list[str], PageArgs], Awaitable[dict[str, list[Any]]]]
    ) -> Callable[[list[PageKey]], Awaitable[list[list[Any]]]]:
        async def load(keys: list[PageKey]) -> list[list[Any]]:
            groups: dict[PageArgs, list[str]] = defaultdict(list)
            for parent, args in keys:
                groups[args].append(parent)
            results: dict[PageKey, list[Any]] = {}
            for args, parents in groups.items():
                pages = await self.run(lambda c: fetch(c, sorted(set(parents)), args))  # noqa: B023 - awaited at once
                results.update({(p, args): rows for p, rows in pages.items()})
            return [results.get(k, []) for k in keys]

        return load

    def _counts(self, fetch: Callable[[Connection, list[str]], Awaitable[dict[str, int]]]) -> Callable[[list[str]], Awaitable[list[int]]]:
        async def load(keys: list[str]) -> list[int]:
            counts = await self.run(lambda c: fetch(c, keys))
            return [counts.get(k, 0) for k in keys]

        return load

    async def cursors(self) -> dict[str, int]:
        """The indexer's cursor slots, read once per request (every row's ``commitment`` needs them)."""
        if self._cursors is None:
            self._cursors = asyncio.ensure_future(self.run(lambda c: chain.cursors(c, self.program_id)))
        return await self._cursors
