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

On graphql-transport-ws an ``events`` subscription goes one step further (``DirectDelivery``):
its shared result is encoded once as the ``next`` message's payload, and each subscriber
writes those bytes with its operation id spliced in, straight to its socket, without
Strawberry's per-result layers (an extension context per result, the result's conversion,
the message dict, its encoding): those cost as much as the rest of a delivery. A result
with errors, or a subscription on another transport, takes Strawberry's path as before.
Where every row of a hub batch is public and its result is at hand without waiting (shared by
another subscriber, or an operation whose execution finishes at once: ``SharedResults.at_once``),
``DirectDelivery.prepare`` gives the hub those writes to start from its own task (hub.py's push),
so the subscription's task is not even woken.
"""

from __future__ import annotations

import asyncio
import bisect
import inspect
from collections.abc import AsyncIterable, Awaitable, Coroutine, Hashable, Sequence
from contextvars import ContextVar
from typing import Any, cast

import orjson
from graphql import ExecutionResult

from graphql_api.eager import retrieved
from graphql_api.encoding import encode_json
from graphql_api.execution import PlanExecutor
from graphql_api.store.events import EventFilter
from graphql_api.types import ChainEvent

MAX_ENTRIES = 4096
UNKNOWN: Any = object()  # SharedResults.prepared: not worked out yet for this batch

# Both are set inside an operation's own task (asyncio gives each task a copy of the context), so a
# subscription resolver reads those of its own operation: the executor that runs it, and on
# graphql-transport-ws the handler and operation its messages go through (app.TransportWS).
_EXECUTOR: ContextVar[SharedEventExecutor | None] = ContextVar("subscription_executor", default=None)
TRANSPORT_OPERATION: ContextVar[tuple[Any, Any] | None] = ContextVar("transport_operation", default=None)


class SharedResults:
    """Results of per-event executions by key; an entry is a result or, while the first
    subscriber is still executing, the future of one."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.entries: dict[Hashable, tuple[Any, ExecutionResult | asyncio.Future[ExecutionResult]]] = {}
        self.payloads: dict[int, tuple[ExecutionResult, bytes]] = {}
        # Whether an operation's execution last finished without waiting (plain leaves do; a nested ``mirror``
        # reads the database), by id, the operation kept alive with it: DirectDelivery.prepare executes only those.
        self.at_once: dict[int, tuple[Any, bool]] = {}
        self.shared_uncounted = 0  # results DirectDelivery.prepare shared, for the metric (ApiState.after_hub_batch)
        # What DirectDelivery.prepare worked out for the hub's current batch, per set of inputs. The hub offers one
        # batch to every subscriber before the next, so only that batch's are kept (and it, so that its id stays its own).
        self.batch: Any = None
        self.batches: dict[Hashable, tuple[list[int], list[bytes]] | None] = {}

    def prepared(self, key: Hashable, batch: Any) -> Any:
        """What was prepared for ``batch`` and inputs ``key``: the rows' ids and payloads, None (the task's), or UNKNOWN."""
        return self.batches.get(key, UNKNOWN) if batch is self.batch else UNKNOWN

    def remember_batch(self, key: Hashable, batch: Any, prepared: tuple[list[int], list[bytes]] | None) -> None:
        if batch is not self.batch:
            self.batch = batch
            self.batches.clear()
        self.batches[key] = prepared

    def executes_at_once(self, operation: Any) -> bool:
        found = self.at_once.get(id(operation))
        return found is not None and found[0] is operation and found[1]

    def executed(self, operation: Any, at_once: bool) -> None:
        if len(self.at_once) >= self.max_entries and id(operation) not in self.at_once:
            del self.at_once[next(iter(self.at_once))]
        self.at_once[id(operation)] = (operation, at_once)

    def remember(self, key: Hashable, row: Any, value: ExecutionResult | asyncio.Future[ExecutionResult]) -> None:
        if len(self.entries) >= self.max_entries:
            del self.entries[next(iter(self.entries))]
        self.entries[key] = (row, value)

    def payload(self, result: ExecutionResult) -> bytes:
        """``{"data": …}`` of a shared result, encoded once; kept with the result while the result's entry may live."""
        found = self.payloads.get(id(result))
        if found is not None and found[0] is result:
            return found[1]
        encoded = encode_json({"data": result.data})
        if len(self.payloads) >= self.max_entries:
            del self.payloads[next(iter(self.payloads))]
        self.payloads[id(result)] = (result, encoded)
        return encoded


class _Shared:
    """A per-event "executor" whose execution is already done (a finished shared result)."""

    __slots__ = ("result",)

    def __init__(self, result: ExecutionResult) -> None:
        self.result = result

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return self.result


class SharedEventExecutor(PlanExecutor):
    """Strawberry's executor, with per-event executions of ``events`` shared through the
    app's ``SharedResults`` (``context.state.shared_results``). A finished shared result is
    handed out before graphql-core copies the executor for the event (the copy costs as much
    as the rest of a delivery)."""

    share_key: Hashable | None = None  # set on a per-event copy whose execution may be shared
    _inputs: tuple[int, bytes] | None = None

    def cancellable_iterable(self, iterable: AsyncIterable[Any]) -> AsyncIterable[Any]:
        # Called once per subscription, on the executor that started it, before its resolver's body runs.
        _EXECUTOR.set(self)
        return super().cancellable_iterable(iterable)

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
        memo.executed(self.operation, not inspect.isawaitable(result))
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
        return await _completed(super().execute_operation(serially))

    def _share_key(self, payload: Any) -> Hashable | None:
        return self.row_key(payload.row) if isinstance(payload, ChainEvent) else None

    def row_key(self, row: Any) -> tuple[Any, ...] | None:
        """What an execution of this operation for ``row`` depends on, or None where it cannot be shared."""
        if self._inputs is None:  # once per subscription: the same for each of its events
            try:
                variables = orjson.dumps(self.variable_values.coerced, option=orjson.OPT_SORT_KEYS)
            except TypeError:  # a value orjson cannot write (none of our scalars): executed alone
                return None
            self._inputs = (id(self.operation), variables)
        return (*self._inputs, getattr(self.context_value, "viewer", None), id(row))


class DirectDelivery:
    """Sends an ``events`` subscription's rows as pre-encoded ``next`` messages (see the module docs)."""

    __slots__ = ("_group", "executor", "handler", "operation", "prefix", "shared")

    def __init__(self, executor: SharedEventExecutor, handler: Any, operation: Any) -> None:
        self.executor, self.handler, self.operation = executor, handler, operation
        self.shared: SharedResults = executor.context_value.state.shared_results
        self.prefix = b'{"id":' + orjson.dumps(operation.id) + b',"type":"next","payload":'
        self._group: tuple[EventFilter, Hashable | None] | None = None  # (the filter, its group's key in SharedResults.batches)

    @classmethod
    def current(cls) -> DirectDelivery | None:
        """The calling subscription's, when it runs on graphql-transport-ws; else None."""
        executor, transport = _EXECUTOR.get(), TRANSPORT_OPERATION.get()
        return None if executor is None or transport is None else cls(executor, *transport)

    async def send(self, row: Any) -> bool:
        """Sends ``row``'s result; False when it must take Strawberry's path (errors, or not shareable)."""
        key = self.executor.row_key(row)
        if key is None:
            return False
        found = self.shared.entries.get(key)
        if found is not None and not isinstance(found[1], asyncio.Future):
            self.executor.context_value.state.metrics.results_shared.inc()
            value = found[1]
        else:  # executed here, or awaited from the subscriber executing it (the executor's own sharing)
            value = await _completed(self.executor.build_per_event_executor(ChainEvent.of(row)).execute_operation(False))
        if value.errors:
            return False
        if self._unsubscribed():
            return True  # nothing more goes out
        await self.handler.websocket.send_raw(self.message(value))
        return True

    def prepare(self, batch: Sequence[Any], flt: EventFilter, last: int) -> tuple[int, Coroutine[Any, Any, None] | None] | None:
        """A hub batch for this subscriber, sent from the hub's task: the id of the last row it takes and the
        writes of its messages (None: no row is for it); None where the subscription's task must send it (a
        private row, a result still being executed, errors). The rows and their payloads are worked out once per
        batch for all subscribers with the same inputs (operation, variables, viewer, filter)."""
        if self._group is None or self._group[0] is not flt:
            inputs = self.executor.row_key(batch)  # (operation, variables, viewer, batch); None: not shareable
            # The filter's fields, not the filter: a tuple of plain values hashes without calling back into Python.
            self._group = (flt, None if inputs is None else (*inputs[:-1], flt.mirror, flt.names, flt.from_slot, flt.to_slot))
        key = self._group[1]
        if key is None:
            return None
        prepared = self.shared.prepared(key, batch)
        if prepared is UNKNOWN:
            prepared = self._payloads(batch, flt)
            self.shared.remember_batch(key, batch, prepared)
        elif prepared is not None:
            self.shared.shared_uncounted += len(prepared[0])
        if prepared is None:
            return None
        ids, payloads = prepared
        start = 0 if not ids or ids[0] > last else bisect.bisect_right(ids, last)
        if start == len(ids):
            return last, None
        if self._unsubscribed():
            return ids[-1], None  # nothing more goes out
        if start == len(ids) - 1:  # one message, the usual case: its write without a coroutine around it
            return ids[-1], self.handler.websocket.send_raw(self._framed(payloads[start]))
        return ids[-1], self._write([self._framed(payload) for payload in payloads[start:]])

    def _payloads(self, batch: Sequence[Any], flt: EventFilter) -> tuple[list[int], list[bytes]] | None:
        """The ids and encoded results of ``batch``'s rows that ``flt`` takes, each public and its result at hand; else None."""
        ids, payloads = [], []
        shared_count = 0  # counted only if every row's result is at hand
        for row in batch:
            if not flt.matches(row):
                continue
            if not row["public"]:
                return None  # the viewer's right to see it is a statement: the task reads it
            found = self.shared.entries.get(self.executor.row_key(row))  # a key: prepare() saw this subscription's inputs
            if found is not None:
                value = found[1]
                if isinstance(value, asyncio.Future):
                    return None  # being executed by another subscriber's task
                shared_count += 1
            elif self.shared.executes_at_once(self.executor.operation):
                pending = self.executor.build_per_event_executor(ChainEvent.of(row)).execute_operation(False)
                if inspect.isawaitable(pending):  # not at once after all: it runs on as a task the others can await
                    asyncio.ensure_future(pending).add_done_callback(retrieved)  # its sharers get the outcome from SharedResults
                    return None
                value = pending
            else:
                return None
            if value.errors:
                return None
            ids.append(row["id"])
            payloads.append(self.shared.payload(value))
        self.shared.shared_uncounted += shared_count
        return ids, payloads

    def message(self, value: ExecutionResult) -> bytes:
        return self._framed(self.shared.payload(value))

    def _framed(self, payload: bytes) -> bytes:
        """A ``next`` message of this operation around an encoded ``{"data": …}``."""
        return self.prefix + payload + b"}"

    def _unsubscribed(self) -> bool:
        return bool(self.operation.completed or self.operation.id not in self.handler.operations)

    async def _write(self, messages: list[bytes]) -> None:
        for message in messages:
            if self._unsubscribed():
                return
            await self.handler.websocket.send_raw(message)


async def _completed(result: Any) -> ExecutionResult:
    return cast(ExecutionResult, await result if inspect.isawaitable(result) else result)
