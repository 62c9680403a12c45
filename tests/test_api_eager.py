"""graphql_api/eager.py: coroutines stepped by hand behave as tasks would. ``gather_eagerly`` returns
results in order, finishes at once when nothing waits, resumes each coroutine only when its future is
done (one waiting on another is not stuck), survives bare yields, and on an error or a cancellation
closes every coroutine it holds. ``Resumed`` continues a started coroutine when awaited."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from graphql_api.eager import Resumed, gather_eagerly


async def _value(v: Any) -> Any:
    return v


async def test_results_come_in_order_and_nothing_waits_when_nothing_must() -> None:
    run = gather_eagerly([_value(1), _value(2), _value(3)])
    with pytest.raises(StopIteration) as done:
        run.send(None)  # no step of the loop: finished in the first send
    assert done.value.value == [1, 2, 3]


async def test_a_coroutine_waiting_on_another_is_resumed_when_its_future_is_done() -> None:
    loop = asyncio.get_running_loop()
    signal: asyncio.Future[str] = loop.create_future()
    order: list[str] = []

    async def waits() -> str:
        got = await signal
        order.append("waits")
        return got

    async def sets() -> str:
        await asyncio.sleep(0)  # a bare yield
        await asyncio.sleep(0.01)
        signal.set_result("set")
        order.append("sets")
        await asyncio.sleep(0.01)
        return "done"

    assert await gather_eagerly([waits(), sets()]) == ["set", "done"]
    assert order == ["sets", "waits"]


async def slow(name: Any, closed: list[Any]) -> None:
    """Waits long; notes ``name`` in ``closed`` when it ends (closed, or cancelled)."""
    try:
        await asyncio.sleep(10)
    finally:
        closed.append(name)


async def test_an_error_closes_the_others_and_is_raised() -> None:
    closed: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        await gather_eagerly([slow("a", closed), fails(), slow("b", closed)])
    assert sorted(closed) == ["a", "b"]  # both were waiting: closed, their finally ran

    async def fails_at_once() -> None:
        raise ValueError("broken")

    never_started = slow("never started", closed)
    with pytest.raises(ValueError, match="broken"):
        await gather_eagerly([fails_at_once(), never_started])
    assert never_started.cr_frame is None  # closed before it ran: no "never awaited" warning
    assert "never started" not in closed


async def test_a_cancellation_closes_every_coroutine() -> None:
    closed: list[int] = []
    task = asyncio.ensure_future(gather_eagerly([slow(i, closed) for i in range(3)]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(closed) == [0, 1, 2]


async def test_resumed_goes_on_from_where_the_coroutine_waited() -> None:
    async def two_steps() -> str:
        await asyncio.sleep(0.01)
        return "finished"

    coro = two_steps()
    waiting_on = coro.send(None)
    assert isinstance(waiting_on, asyncio.Future)
    assert await Resumed(coro, waiting_on) == "finished"
