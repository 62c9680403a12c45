"""Subscriptions end to end: localnet, indexer, PostgreSQL, Redis and the API as
processes; a gql client over graphql-transport-ws. Live delivery after the indexer's
commit, and a reconnect with a cursor that yields each missed event exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from mirror_common.localnet import Localnet
from mirror_common.services import Redis
from tests.api_support import ApiProcess, full_stack
from tests.conftest import funded
from tests.indexer_support import MirrorLife, eventually

SUB = gql("subscription($m: Address, $after: I64) { events(filter: {mirror: $m}, after: $after) { eventId name signature } }")


def ws_client(api: ApiProcess) -> Client:
    url = api.url.replace("http", "ws") + "/graphql"
    return Client(transport=WebsocketsTransport(url=url, subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL]))


async def collect(api: ApiProcess, out: list[dict[str, Any]], variables: dict[str, Any], ready: asyncio.Event) -> None:
    async with ws_client(api) as session:
        ready.set()
        async for item in session.subscribe(SUB, variable_values=variables):
            out.append(item["events"])


async def test_live_then_reconnect_with_a_cursor_gets_each_event_once(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        mirror = await life.create(owner, 3, "Live", "Public")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(mirror)), what="mirror indexed")

        # Connected before the transaction: the event arrives once the indexer commits it.
        got: list[dict[str, Any]] = []
        ready = asyncio.Event()
        task = asyncio.create_task(collect(api, got, {"m": str(mirror)}, ready))
        await ready.wait()
        await asyncio.sleep(1.0)  # the subscription is open before the transaction
        await life.update(owner, mirror, "Live 2")
        await eventually(lambda: _true(got), what="live MirrorUpdated", timeout=30)
        assert [e["name"] for e in got] == ["MirrorUpdated"]
        task.cancel()
        cursor = int(got[-1]["eventId"])

        # Disconnected while events keep coming, then back with the cursor: each once, in order.
        for i in range(3):
            await life.update(owner, mirror, f"Live {i + 3}")
        expected = [r["id"] for r in await eventually(lambda: _at_least(db, str(mirror), cursor, 3), what="3 more events indexed")]
        again: list[dict[str, Any]] = []
        ready = asyncio.Event()
        task = asyncio.create_task(collect(api, again, {"m": str(mirror), "after": str(cursor)}, ready))
        await ready.wait()
        await life.update(owner, mirror, "Live 9")
        await eventually(lambda: _len(again, 4), what="replay then live", timeout=30)
        await asyncio.sleep(1.0)
        ids = [int(e["eventId"]) for e in again]
        assert ids[:3] == expected and len(ids) == 4 and len(set(ids)) == 4 and ids == sorted(ids), ids
        task.cancel()


async def _true(items: list[Any]) -> bool:
    return bool(items)


async def _len(items: list[Any], n: int) -> bool:
    return len(items) >= n


async def _at_least(db: asyncpg.Connection, mirror: str, after: int, n: int) -> list[Any]:
    rows = await db.fetch("SELECT id FROM chain_events WHERE payload->>'mirror' = $1 AND id > $2 ORDER BY id", mirror, after)
    return list(rows) if len(rows) >= n else []  # empty: not yet, and `eventually` polls again
