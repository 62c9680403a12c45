"""One reader of new chain events per API process, shared by every subscription.

The hub holds one Redis subscription (``mirror:events``) and, on each message, reads the
rows of ``chain_events`` past the last id it read, once, and hands the batch to every
subscriber. A thousand subscribers cost one SQL statement per commit, not a thousand.
Redis is only a wake-up: the rows come from PostgreSQL, so a lost message loses
nothing. The hub also reads every ``poll_s`` seconds while anyone listens, so when Redis
is down (the indexer keeps committing) subscribers still get every event, a little later.

Each subscriber has a short queue of batches. One that does not keep up (a socket that
never reads) is not allowed to grow it: past ``max_pending`` batches its queue is
dropped and it is told to ``resync``, that is to read what it missed from the database
itself, from its own last id. Memory stays bounded and nothing is lost.

Why a subscriber misses nothing (subscriptions.py relies on it): it registers *before*
it reads the database. An event committed after that read is read by the hub after the
registration (the hub reads an event only once it is committed), so it is in a batch
the subscriber receives. The subscriber drops ids it already sent.

A subscriber may also take a batch at once, in the hub's own task (``Subscriber.push``):
waking a thousand tasks costs about as much as the thousand writes themselves. The hub
offers a batch that way only to a subscriber that is idle (waiting in ``next`` with nothing
queued and no write under way), so batches still go out in order. The push either declines
(the batch is queued as above: it needs a statement or an execution that waits) or starts
its writes eagerly (``Subscriber.run_eagerly``): what a socket takes at once is done before
the hub moves on; a write that has to wait for a slow reader goes on in a task of its own,
and the subscriber takes nothing more until it is done, so the hub never waits on a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from graphql_api.eager import Resumed
from graphql_api.store import events as event_sql
from mirror_common.pg import Pool
from mirror_common.retry import REDIS, Backoff

log = structlog.get_logger("graphql_api.hub")

CHANNEL = "mirror:events"
READ_BATCH = 500


@dataclass(eq=False)
class Subscriber:
    """What one subscription receives from the hub."""

    batches: deque[Sequence[Any]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    resync: bool = False  # fell behind: its batches were dropped; read from the database instead
    # Delivers a batch at once from the hub's task; False: not this one (it is queued instead).
    push: Callable[[Sequence[Any]], bool] | None = None
    context: contextvars.Context = field(default_factory=contextvars.copy_context)  # the subscription's, for its writes
    idle: bool = False  # waiting in next() for a batch
    writing: asyncio.Task[Any] | None = None  # a pushed write the socket did not take at once
    failure: BaseException | None = None  # how a pushed write failed: raised by next()

    async def next(self) -> Sequence[Any] | None:
        """The next batch, or ``None`` when the subscriber must read from the database."""
        while self.writing is not None or (not self.batches and not self.resync):
            self._raise_failure()
            self.wake.clear()
            self.idle = True
            try:
                await self.wake.wait()
            finally:
                self.idle = False
        self._raise_failure()
        if self.resync:
            self.resync = False
            self.batches.clear()
            return None
        return self.batches.popleft()

    def offer(self, rows: Sequence[Any], max_pending: int) -> bool:
        """A batch from the hub: pushed at once (True) where the subscriber is idle and takes it, else queued."""
        if self.push is not None and self.idle and self.writing is None and not self.batches and not self.resync:
            try:
                if self.push(rows):
                    return True
            except Exception as e:  # noqa: BLE001 - never the hub's: queued, the subscription's task meets it in its own
                log.warning("hub_push_failed", error=f"{type(e).__name__}: {e}")
        if len(self.batches) >= max_pending:
            self.resync = True
        else:
            self.batches.append(rows)
        self.wake.set()
        return False

    def run_eagerly(self, writes: Coroutine[Any, Any, None]) -> None:
        """Runs ``writes`` now, in the subscription's context, up to where it would wait; the rest in a task."""
        try:
            waiting_on = self.context.run(writes.send, None)
        except StopIteration:
            return
        except Exception as e:  # noqa: BLE001 - a closed socket, typically: the subscription ends with it, in its task
            self._failed(e)
            return
        self.writing = asyncio.get_running_loop().create_task(Resumed(writes, waiting_on), context=self.context)
        self.writing.add_done_callback(self._written)

    def stop(self) -> None:
        if self.writing is not None:
            self.writing.cancel()

    def _written(self, task: asyncio.Task[Any]) -> None:
        self.writing = None
        if not task.cancelled() and task.exception() is not None:
            self._failed(task.exception())  # type: ignore[arg-type]  # not None: checked above
        self.wake.set()

    def _failed(self, e: BaseException) -> None:
        self.failure = e
        self.wake.set()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure


class EventHub:
    def __init__(self, pool: Pool, redis_url: str, *, poll_s: float = 1.0, max_pending: int = 64) -> None:
        self.pool = pool
        self.redis_url = redis_url
        self.poll_s = poll_s
        self.max_pending = max_pending
        self.subscribers: set[Subscriber] = set()
        self.last_id = 0  # the highest chain_events id read and handed out
        self.redis_connected = False
        self._kick = asyncio.Event()
        self._reading = asyncio.Lock()  # two reads at once would hand out the same rows twice
        # Told once per batch how many subscribers took it at once (pushed) and how many had it queued.
        self.on_batch: Callable[[int, int], None] = _ignore
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            self.last_id = await event_sql.last_id(conn)
        self._tasks = [asyncio.create_task(self._listen(), name="hub-listen"), asyncio.create_task(self._read_loop(), name="hub-read")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscriber]:
        sub = Subscriber()
        self.subscribers.add(sub)
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)
            sub.stop()

    async def _listen(self) -> None:
        """Redis messages kick the reader; a (re)connection kicks it too (messages may have been lost)."""
        backoff = Backoff(REDIS)
        while True:
            client = aioredis.from_url(self.redis_url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                backoff.reset()
                self.redis_connected = True
                log.info("hub_redis_connected")
                self._kick.set()
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    if msg is not None and _message_id(msg) > self.last_id:
                        self._kick.set()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
                if self.redis_connected:
                    log.warning("hub_redis_lost", error=str(e) or type(e).__name__, hint="polling PostgreSQL until Redis is back")
                self.redis_connected = False
                await backoff.wait()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis 8.1's PubSub.aclose has no annotations
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _read_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.poll_s)
            if not self._kick.is_set() and not self.subscribers:
                continue  # a quiet poll with nobody listening: nothing to do (a later read catches up from last_id)
            self._kick.clear()
            try:
                await self.read()
            except Exception as e:  # noqa: BLE001 - the database is down or anything else: never let the hub die
                log.warning("hub_read_failed", error=f"{type(e).__name__}: {e}")

    async def read(self) -> None:
        """Reads what was committed past ``last_id`` and hands it to every subscriber."""
        async with self._reading:
            await self._read()

    async def _read(self) -> None:
        while True:
            if not self.subscribers:  # nobody listens: only move the mark
                async with self.pool.acquire() as conn:
                    self.last_id = max(self.last_id, await event_sql.last_id(conn))
                return
            async with self.pool.acquire() as conn:
                rows = await event_sql.past(conn, self.last_id, READ_BATCH)
            if not rows:
                return
            self.last_id = rows[-1]["id"]
            subscribers = list(self.subscribers)  # a copy: a push runs a little of its subscription's code
            pushed = sum(sub.offer(rows, self.max_pending) for sub in subscribers)
            self.on_batch(pushed, len(subscribers) - pushed)
            if len(rows) < READ_BATCH:
                return


def _ignore(pushed: int, queued: int) -> None:
    pass


def _message_id(msg: dict[str, Any]) -> int:
    """The chain_events id a message announces; one we cannot read counts as new."""
    try:
        value = json.loads(msg["data"]).get("id")
    except (ValueError, TypeError, AttributeError):
        return 1 << 62
    return value if isinstance(value, int) else 1 << 62
