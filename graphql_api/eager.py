"""Coroutines run eagerly, without a task each: Python 3.12's eager tasks, written out for 3.11.

A task per coroutine costs more than a small coroutine's own work: the event hub writes to a
thousand sockets per event, and a page of 100 mirrors resolves hundreds of relation fields.
Most of those coroutines finish without waiting (a socket takes the bytes; a DataLoader's
batch is one statement for all of them), so they are stepped by hand:

- ``Resumed``: the rest of a coroutine that already ran up to its first wait, for a task to
  drive or for a caller to ``await``.
- ``gather_eagerly``: many coroutines stepped side by side in the caller's task, each resumed
  when what it waits for is done, like ``asyncio.gather`` without the tasks. ``stepping()``
  tells a coroutine that it runs under it: what it awaits, ``gather_eagerly`` waits on with
  ``asyncio.wait``, so the caller's task stays cancellable whatever the future is.
"""

from __future__ import annotations

import asyncio
import collections.abc
from collections.abc import Coroutine, Generator, Sequence
from typing import Any


class Resumed(collections.abc.Coroutine[Any, Any, Any]):
    """The rest of a coroutine that already ran up to its first wait (``waiting_on``, what it yielded).
    The first step hands ``waiting_on`` back to whoever drives it (a task, or the coroutine that awaits
    this); every later step, and a cancellation even before the first, goes to the coroutine."""

    __slots__ = ("coro", "started", "waiting_on")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro, self.waiting_on, self.started = coro, waiting_on, False

    def send(self, value: Any) -> Any:
        if not self.started:
            self.started = True
            return self.waiting_on
        return self.coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        self.started = True
        return self.coro.throw(typ) if val is None and tb is None else self.coro.throw(typ, val, tb)

    def close(self) -> None:
        self.coro.close()

    def __next__(self) -> Any:
        return self.send(None)

    def __iter__(self) -> Resumed:
        return self

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # an iterator with send and throw: what ``await`` needs


_stepping = 0  # how many gather_eagerly steps are running (nested ones count); one thread, so a plain counter


def stepping() -> bool:
    """Whether the running code is (inside) a coroutine that ``gather_eagerly`` is stepping."""
    return _stepping > 0


def _step(coro: Coroutine[Any, Any, Any]) -> Any:
    global _stepping
    _stepping += 1
    try:
        return coro.send(None)
    finally:
        _stepping -= 1


async def gather_eagerly(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """The coroutines' results in order, each stepped in this task as far as it goes, then resumed once
    the future it waits on is done. The first exception closes the others and is raised."""
    results: list[Any] = [None] * len(coros)
    waiting: dict[int, asyncio.Future[Any] | None] = {}  # index -> the future it waits on (None: a bare yield)
    ready = list(range(len(coros)))
    try:
        while ready:
            for i in ready:
                try:
                    yielded = _step(coros[i])
                except StopIteration as done:
                    results[i] = done.value
                    waiting.pop(i, None)
                    continue
                if getattr(yielded, "_asyncio_future_blocking", None):
                    yielded._asyncio_future_blocking = False  # as a task does: the future is now waited on
                    waiting[i] = yielded
                elif yielded is None:
                    waiting[i] = None
                else:
                    raise RuntimeError(f"gather_eagerly: a coroutine yielded {yielded!r}, not a future")
            futures = {f for f in waiting.values() if f is not None}
            if futures and all(f is not None for f in waiting.values()):
                await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
            elif waiting:
                await asyncio.sleep(0)
            ready = [i for i, f in waiting.items() if f is None or f.done()]
    except BaseException:
        for coro in coros:  # those not started or still waiting; closing a finished one does nothing
            coro.close()
        raise
    return results


def retrieved(future: asyncio.Future[Any]) -> None:
    """A done-callback for a future whose outcome its waiters take, if any remain: its error is looked at,
    so asyncio never warns 'exception was never retrieved' when every waiter has gone."""
    if not future.cancelled():
        future.exception()
