"""graphql_api/loaders.py's BatchLoader: the keys asked for in one turn of the loop are one fetch, each
key once; values and errors are kept for the request; a key asked for while its batch is under way
waits on that batch; one waiter's cancellation leaves the others waiting, and a waiter is cancelled
at once even while its batch hangs, whether a task awaits it or ``gather_eagerly`` steps it; a fetch
that returns the wrong number of values is an error, not a shifted answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graphql_api.eager import gather_eagerly
from graphql_api.loaders import BatchLoader


class Fetches:
    def __init__(self, fail: bool = False, short: bool = False, pause: float = 0.0) -> None:
        self.calls: list[list[Any]] = []
        self.fail, self.short, self.pause = fail, short, pause

    async def __call__(self, keys: list[int]) -> list[str]:
        self.calls.append(list(keys))
        await asyncio.sleep(self.pause)
        if self.fail:
            raise ValueError("database down")
        values = [f"v{k}" for k in keys]
        return values[:-1] if self.short else values


async def test_one_turn_is_one_fetch_and_values_are_kept() -> None:
    fetch = Fetches()
    loader: BatchLoader[int, str] = BatchLoader(fetch)
    assert await asyncio.gather(*(loader.load(k) for k in (1, 2, 1, 3))) == ["v1", "v2", "v1", "v3"]
    assert fetch.calls == [[1, 2, 3]]
    assert await loader.load(2) == "v2"  # kept: no second fetch
    assert await asyncio.gather(loader.load(3), loader.load(4)) == ["v3", "v4"]
    assert fetch.calls == [[1, 2, 3], [4]]


async def test_a_key_asked_for_while_its_batch_is_under_way_waits_on_that_batch() -> None:
    fetch = Fetches(pause=0.02)
    loader: BatchLoader[int, str] = BatchLoader(fetch)
    first = asyncio.ensure_future(loader.load(1))
    await asyncio.sleep(0.005)  # the batch is being fetched
    assert await asyncio.gather(loader.load(1), first) == ["v1", "v1"]
    assert fetch.calls == [[1]]


async def test_an_error_reaches_every_waiter_and_is_kept() -> None:
    fetch = Fetches(fail=True)
    loader: BatchLoader[int, str] = BatchLoader(fetch)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert [str(r) for r in results] == ["database down", "database down"]
    with pytest.raises(ValueError, match="database down"):
        await loader.load(1)
    assert fetch.calls == [[1, 2]]


async def test_a_fetch_with_the_wrong_number_of_values_is_an_error() -> None:
    loader: BatchLoader[int, str] = BatchLoader(Fetches(short=True))
    with pytest.raises(ValueError, match="a batch of 2 keys got 1 values"):
        await asyncio.gather(loader.load(1), loader.load(2))


async def test_one_waiter_cancelled_leaves_the_others_waiting() -> None:
    fetch = Fetches(pause=0.02)
    loader: BatchLoader[int, str] = BatchLoader(fetch)
    leaving = asyncio.ensure_future(loader.load(1))
    staying = asyncio.ensure_future(loader.load(2))
    await asyncio.sleep(0.005)
    leaving.cancel()
    assert await staying == "v2"
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await loader.load(1) == "v1"


async def test_a_task_waiting_on_a_batch_that_hangs_is_cancelled_at_once() -> None:
    fetch = Fetches(pause=30)  # a statement that never ends
    loader: BatchLoader[int, str] = BatchLoader(fetch)
    direct = asyncio.ensure_future(loader.load(1))  # awaited by its own task

    async def resolver(key: int) -> str:
        return await loader.load(key)

    stepped = asyncio.ensure_future(gather_eagerly([resolver(2), resolver(3)]))  # as the executor steps resolvers
    await asyncio.sleep(0.01)
    for task in (direct, stepped):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1)  # not 30 s
    other = asyncio.ensure_future(loader.load(2))  # the batch itself goes on for whoever else waits on it
    await asyncio.sleep(0.01)
    assert not other.done()
    other.cancel()
