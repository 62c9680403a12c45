"""One execution of a subscription's selection per event, shared by every subscriber that would
compute the same thing.

A thousand clients subscribed to ``events(filter: {mirror: M}) { eventId name data }`` receive
the same hub batch (hub.py): the same row objects, at the same moment. Executing the
selection set once per subscriber is most of what fan-out costs, and the answers are equal
whenever the inputs are: the same parsed operation (``schema._prepare`` caches a document
per text), the same coerced variables, the same viewer (nested fields such as
``mirror { … }`` depend on what the viewer may see) and the same row object. So the
executor below keys each event's execution on exactly those and computes it once; the
others take the same ``ExecutionResult``.

Only events rows from a hub batch share: a row read by one subscriber's replay is its own
object and is executed for it alone, and ``mirror``/``trainingJob`` subscriptions, whose
payload is re-read per subscriber, never share. The memo holds at most ``MAX_ENTRIES``
results (oldest dropped first), each keeping its row alive so that ``id(row)`` cannot be
reused while the entry lives.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Hashable
from typing import Any, cast

import orjson
from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_api.types import ChainEvent

MAX_ENTRIES = 4096


class SharedResults:
    """Results of per-event executions by key; an entry is a result or, while the first
    subscriber is still executing, the future of one."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: dict[Hashable, tuple[Any, ExecutionResult | asyncio.Future[ExecutionResult]]] = {}

    def remember(self, key: Hashable, row: Any, value: ExecutionResult | asyncio.Future[ExecutionResult]) -> None:
        if len(self.entries) >= self.max_entries:
            del self.entries[next(iter(self.entries))]
        self.entries[key] = (row, value)


class _Shared:
    """A per-event "executor" whose execution is already done (a finished shared result)."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with per-event executions of ``events`` shared through the
    app's ``SharedResults`` (``context.state.shared_results``). A finished shared result is
    handed out before graphql-core copies the executor for the event (the copy costs as much
    as the rest of a delivery)."""

    share_key: Hashable | None = None  # set on a per-event copy whose execution may be shared
    _inputs: tuple[int, bytes] | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        key = self._share_key(payload)
        if key is not None:
            found = self.context_value.state.shared_results.entries.get(key)
            if found is not None and not isinstance(found[1], asyncio.Future):
                self.context_value.state.metrics.results_shared.inc()
                return _Shared(found[1])
        executor = cast(SharedEventExecutor, super().build_per_event_executor(payload))
        executor.share_key = key
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        key = self.share_key
        if key is None:
            return super().execute_operation(serially)
        state = self.context_value.state
        memo: SharedResults = state.shared_results
        found = memo.entries.get(key)
        if found is not None:  # another subscriber is executing it right now
            state.metrics.results_shared.inc()
            value = found[1]
            return self._await_shared(value, serially) if isinstance(value, asyncio.Future) else value
        state.metrics.results_executed.inc()
        result: Any = super().execute_operation(serially)  # a subscription's: never incremental
        if not inspect.isawaitable(result):
            if not result.errors:  # an error is reported to each subscriber as it happens to it
                memo.remember(key, self.root_value.row, result)
            return result
        return self._share_later(memo, key, result)

    async def _share_later(self, memo: SharedResults, key: Hashable, pending: Awaitable[Any]) -> ExecutionResult:
        future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
        memo.remember(key, self.root_value.row, future)
        try:
            result: ExecutionResult = await pending
        except BaseException:  # this subscriber went away (cancelled) or its execution broke
            memo.entries.pop(key, None)
            future.cancel()  # the waiters execute for themselves
            raise
        if result.errors:
            memo.entries.pop(key, None)
        else:
            memo.remember(key, self.root_value.row, result)
        future.set_result(result)
        return result

    async def _await_shared(self, future: asyncio.Future[ExecutionResult], serially: bool | None) -> ExecutionResult:
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if not future.cancelled():
                raise  # this subscriber itself is being cancelled
        result: Any = super().execute_operation(serially)
        return cast(ExecutionResult, await result if inspect.isawaitable(result) else result)

    def _share_key(self, payload: Any) -> Hashable | None:
        if not isinstance(payload, ChainEvent):
            return None
        if self._inputs is None:  # once per subscription: the same for each of its events
            try:
                variables = orjson.dumps(self.variable_values.coerced, option=orjson.OPT_SORT_KEYS)
            except TypeError:  # a value orjson cannot write (none of our scalars): executed alone
                return None
            self._inputs = (id(self.operation), variables)
        return (*self._inputs, getattr(self.context_value, "viewer", None), id(payload.row))
