"""The subscriptions' event hub (graphql_api/hub.py) in process, over a real PostgreSQL and
Redis: one read per commit shared by every subscriber, Redis messages as wake-ups only,
a subscriber that falls behind told to resync instead of buffering without bound, and
batches pushed from the hub's own task to idle subscribers, in order, without the hub ever
waiting on a write; PostgreSQL out of reach for a while loses no event."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis

from graphql_api.hub import CHANNEL, EventHub, Subscriber
from mirror_common.pg import Pool, create_pool
from mirror_common.services import Redis
from tests.indexer_support import TcpProxy, eventually


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database)
    yield pool
    await pool.close()


async def commit_event(pool: Pool, n: int, mirror: str | None = None) -> int:
    """A row as the indexer commits it; its id."""
    payload = {"mirror": mirror} if mirror else {"n": n}
    async with pool.acquire() as conn:
        value = await conn.fetchval(
            """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload, block_time_unix)
               VALUES ($1, 0, $2, 'p', 'MirrorUpdated', $3, 0) RETURNING id""",
            f"sig-{n}-{mirror}",
            n,
            payload,
        )
    return int(value)


async def test_one_read_per_commit_is_shared_by_every_subscriber(pool: Pool, redis_server: Redis) -> None:
    hub = EventHub(pool, redis_server.url, poll_s=30)  # no polling: only Redis wakes the hub
    await hub.start()
    redis = aioredis.from_url(redis_server.url)
    try:
        with hub.subscribe() as first, hub.subscribe() as second:
            await eventually(lambda: _true(hub.redis_connected), what="hub subscribed")
            ids = [await commit_event(pool, n) for n in range(3)]
            await redis.publish(CHANNEL, json.dumps({"id": ids[-1]}))
            batch = await asyncio.wait_for(first.next(), 10)
            assert batch is not None and [r["id"] for r in batch] == ids
            assert await asyncio.wait_for(second.next(), 1) is batch  # the same rows object, read once
            # A message for what was already read (Redis delivers at least once) costs no read.
            await redis.publish(CHANNEL, json.dumps({"id": ids[0]}))
            await asyncio.sleep(0.3)
            assert not first.batches and hub.last_id == ids[-1]
            # A message we cannot parse wakes the hub anyway: it reads and finds what is new.
            later = await commit_event(pool, 9)
            await redis.publish(CHANNEL, b"\xff not json")
            batch = await asyncio.wait_for(first.next(), 10)
            assert batch is not None and [r["id"] for r in batch] == [later]
    finally:
        await redis.aclose()
        await hub.close()


async def test_a_subscriber_that_falls_behind_is_resynced_not_buffered(pool: Pool, redis_server: Redis) -> None:
    hub = EventHub(pool, redis_server.url, poll_s=30, max_pending=3)
    await hub.start()
    try:
        with hub.subscribe() as slow, hub.subscribe() as fast:
            got = []
            for n in range(10):
                await commit_event(pool, n)
                await hub.read()
                batch = await fast.next()
                assert batch is not None
                got += [r["id"] for r in batch]
                assert len(slow.batches) <= 3
            assert len(got) == 10 and slow.resync
            assert await slow.next() is None  # read from the database from your own last id
            assert not slow.batches and not slow.resync
    finally:
        await hub.close()


async def test_without_redis_the_hub_polls_postgres(pool: Pool) -> None:
    hub = EventHub(pool, "redis://127.0.0.1:9/0", poll_s=0.1)  # nothing listens on port 9
    await hub.start()
    try:
        with hub.subscribe() as sub:
            event = await commit_event(pool, 1)
            batch = await asyncio.wait_for(sub.next(), 10)
            assert batch is not None and [r["id"] for r in batch] == [event] and not hub.redis_connected
    finally:
        await hub.close()


async def test_the_database_out_of_reach_loses_no_event(pool: Pool, database: str, redis_server: Redis) -> None:
    """The hub's connections to PostgreSQL dropped and refused (a proxy) while the indexer goes on
    committing: the hub lives through it, and once the database is back every event reaches the
    subscriber once, in order."""
    proxy, url = await TcpProxy.in_front_of(database)
    through = await create_pool(url)
    hub = EventHub(through, redis_server.url, poll_s=0.05)
    await hub.start()
    redis = aioredis.from_url(redis_server.url)
    try:
        with hub.subscribe() as sub:
            first = await commit_event(pool, 1)
            batch = await asyncio.wait_for(sub.next(), 10)
            assert batch is not None and [r["id"] for r in batch] == [first]
            proxy.refuse = True
            proxy.cut()
            during = [await commit_event(pool, n) for n in range(2, 6)]  # committed straight to the database
            await redis.publish(CHANNEL, json.dumps({"id": during[-1]}))
            await asyncio.sleep(0.5)  # reads fail, polls go on
            assert not sub.batches and not any(task.done() for task in hub._tasks)  # the hub lives
            proxy.refuse = False
            seen: list[int] = []
            while len(seen) < len(during):
                batch = await asyncio.wait_for(sub.next(), 10)
                assert batch is not None
                seen += [r["id"] for r in batch]
            assert seen == during
    finally:
        await redis.aclose()
        await hub.close()
        await through.close()
        await proxy.close()


async def test_rows_say_whether_anyone_may_see_them(pool: Pool, redis_server: Redis) -> None:
    async with pool.acquire() as conn:
        for address, visibility in (("pub", "Public"), ("priv", "Private")):
            await conn.execute(
                """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version,
                       job_count, created_at, updated_at, created_slot, created_signature, last_slot, created_at_unix, updated_at_unix)
                   VALUES ($1, 'o', 'o', 0, 'n', 'u', $2, 'Active', 0, 0, now(), now(), 1, 's', 1, 0, 0)""",
                address,
                visibility,
            )
    hub = EventHub(pool, redis_server.url, poll_s=30)
    await hub.start()
    try:
        with hub.subscribe() as sub:
            for n, mirror in enumerate(("pub", "priv", "gone", None)):
                await commit_event(pool, n, mirror)
            await hub.read()
            # The hub also reads on its own (its Redis connection kicks it), so the rows may come in more than one batch.
            rows: list[Any] = []
            while len(rows) < 4:
                batch = await asyncio.wait_for(sub.next(), 10)
                assert batch is not None
                rows += batch
            assert [(r["mirror"], r["public"]) for r in rows] == [("pub", True), ("priv", False), ("gone", False), (None, True)]
    finally:
        await hub.close()


def run_eagerly(sub: Subscriber, writes: Coroutine[Any, Any, None]) -> bool:
    sub.run_eagerly(writes)
    return True


def hub_tasks() -> set[str]:
    """Where the hub's reads run: its own reader, or the test calling hub.read()."""
    return {"hub-read", asyncio.current_task().get_name()}  # type: ignore[union-attr]


async def parked(*subs: Subscriber) -> list[asyncio.Task[Sequence[Any] | None]]:
    """Each subscriber waiting in next(), as its subscription's task does between batches."""
    tasks = [asyncio.create_task(sub.next()) for sub in subs]
    await eventually(lambda: _true(all(sub.idle for sub in subs)), what="subscribers waiting")
    return tasks


async def test_an_idle_subscriber_takes_a_batch_in_the_hub_s_task_others_have_it_queued(pool: Pool, redis_server: Redis) -> None:
    hub = EventHub(pool, redis_server.url, poll_s=30)
    counted: list[tuple[int, int]] = []
    hub.on_batch = lambda pushed, queued: counted.append((pushed, queued))
    await hub.start()
    try:
        with hub.subscribe() as taker, hub.subscribe() as decliner, hub.subscribe() as plain:
            pushed: list[tuple[list[int], str | None]] = []

            def take(rows: Sequence[Any]) -> bool:
                task = asyncio.current_task()
                pushed.append(([r["id"] for r in rows], task.get_name() if task else None))
                return True

            taker.push, decliner.push = take, lambda rows: False
            waiting = await parked(taker, decliner, plain)
            first = await commit_event(pool, 1)
            await hub.read()
            assert pushed == [([first], pushed[0][1])] and pushed[0][1] in hub_tasks(), pushed
            for task in waiting[1:]:  # declined, or no push: queued and woken
                batch = await asyncio.wait_for(task, 10)
                assert batch is not None and [r["id"] for r in batch] == [first]
            await asyncio.sleep(0.05)
            assert not waiting[0].done() and not taker.batches, "a pushed batch is not also queued"
            assert counted[-1] == (1, 2)

            # Not waiting in next() (busy with an earlier batch, say): queued, so that batches keep their order.
            waiting[0].cancel()
            await asyncio.sleep(0)
            second = await commit_event(pool, 2)
            await hub.read()
            assert len(pushed) == 1 and [r["id"] for r in taker.batches[0]] == [second]
            # Something queued: the next batch queues behind it even though the subscriber now waits.
            third = await commit_event(pool, 3)
            taker.batches.append(taker.batches.popleft())  # (the same one, still first)
            taker.idle = True
            await hub.read()
            taker.idle = False
            assert len(pushed) == 1 and [[r["id"] for r in b] for b in taker.batches] == [[second], [third]]

            # A push that raises is the subscription's problem, not the hub's: the batch is queued for its task.
            def broken(rows: Sequence[Any]) -> bool:
                raise ValueError("a bug in one subscription")

            taker.batches.clear()
            taker.push = broken
            waiting = await parked(taker)
            fourth = await commit_event(pool, 4)
            await hub.read()
            batch = await asyncio.wait_for(waiting[0], 10)
            assert batch is not None and [r["id"] for r in batch] == [fourth]
    finally:
        await hub.close()


SEEN_BY = contextvars.ContextVar("seen_by", default="the hub")


async def test_a_pushed_write_that_waits_goes_on_in_its_own_task_and_holds_the_next_batches(pool: Pool, redis_server: Redis) -> None:
    """run_eagerly: what a socket takes at once is written before the hub moves on; a write that must wait
    continues in a task, in the subscription's context, while later batches queue; a failed write ends the
    subscription (next() raises it); leaving cancels a write still waiting."""
    hub = EventHub(pool, redis_server.url, poll_s=30)
    await hub.start()
    hub_names = hub_tasks()
    try:
        log: list[str] = []
        gate = asyncio.Event()

        async def subscription() -> None:
            SEEN_BY.set("the subscription")
            with hub.subscribe() as sub:

                def where() -> str:
                    task = asyncio.current_task()
                    return "the writer" if task is sub.writing else "the hub" if task and task.get_name() in hub_names else "?"

                async def writes(ids: list[int]) -> None:
                    for i in ids:
                        log.append(f"{i} by {SEEN_BY.get()} in {where()}")
                        if i % 2 == 0:
                            await gate.wait()  # a socket that does not take it yet
                        log.append(f"{i} written in {where()}")

                def push(rows: Sequence[Any]) -> bool:
                    sub.run_eagerly(writes([r["id"] for r in rows]))
                    return True

                sub.push = push
                while True:
                    batch = await sub.next()
                    assert batch is not None
                    log.append(f"task got {[r['id'] for r in batch]}")

        running = asyncio.create_task(subscription(), name="the subscription's task")
        await eventually(lambda: _true(bool(hub.subscribers) and next(iter(hub.subscribers)).idle), what="subscribed")
        sub = next(iter(hub.subscribers))

        odd = await commit_event(pool, 1)
        while odd % 2 == 0:  # the ids are the database's: start from an odd one
            odd = await commit_event(pool, 1)
        await hub.read()
        assert log == [f"{odd} by the subscription in the hub", f"{odd} written in the hub"], "taken at once, in the hub's task"

        log.clear()
        even = await commit_event(pool, 2)
        await hub.read()
        assert log == [f"{even} by the subscription in the hub"] and sub.writing is not None, "waits: the hub moved on"
        later = await commit_event(pool, 3)
        await hub.read()
        await asyncio.sleep(0.05)
        assert log == [f"{even} by the subscription in the hub"], "nothing more goes out while a write waits"
        assert [[r["id"] for r in b] for b in sub.batches] == [[later]]
        gate.set()
        await eventually(lambda: _true(f"task got {[later]}" in log), what="the queued batch after the write")
        assert log == [f"{even} by the subscription in the hub", f"{even} written in the writer", f"task got {[later]}"]

        # A write that fails (a closed socket) ends the subscription in its own task.
        gate.clear()

        async def failing(rows: Sequence[Any]) -> None:
            await gate.wait()
            raise ConnectionResetError("the client went away")

        sub.push = lambda rows: run_eagerly(sub, failing(rows))
        await commit_event(pool, 4)
        await hub.read()
        gate.set()
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(running, 10)
    finally:
        await hub.close()

    # Leaving while a write waits cancels it.
    hub = EventHub(pool, redis_server.url, poll_s=30)
    await hub.start()
    try:
        cancelled = asyncio.Event()

        async def stuck(rows: Sequence[Any]) -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        with hub.subscribe() as sub:
            sub.push = lambda rows: run_eagerly(sub, stuck(rows))
            waiting = await parked(sub)
            await commit_event(pool, 5)
            await hub.read()
            assert sub.writing is not None and not waiting[0].done()
            waiting[0].cancel()
        await asyncio.wait_for(cancelled.wait(), 5)
    finally:
        await hub.close()


async def _true(value: bool) -> bool:
    return value
