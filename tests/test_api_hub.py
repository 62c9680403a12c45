"""The subscriptions' event hub (graphql_api/hub.py) in process, over a real PostgreSQL and
Redis: one read per commit shared by every subscriber, Redis messages as wake-ups only,
and a subscriber that falls behind told to resync instead of buffering without bound."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from graphql_api.hub import CHANNEL, EventHub
from mirror_common.pg import Pool, create_pool
from mirror_common.services import Redis
from tests.indexer_support import eventually


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


async def _true(value: bool) -> bool:
    return value
