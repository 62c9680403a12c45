"""The plain route the API is measured against: a small FastAPI app whose POST /graphql runs
the same SQL as the API (the same ``graphql_api.store`` functions, through asyncpg) for the
benchmark's two operations and returns the same JSON, with no GraphQL in between.

It reads the ``operationName`` and ``variables`` of the same request body the API gets (a
pydantic model, as a plain FastAPI route would) and ignores the query text. Served by
uvicorn with the API's settings (loop, HTTP parser, workers: ``graphql_api.__main__``), so
the ratio API / baseline is the cost of GraphQL and the API's own layers.

It also serves the fan-out's subscription plainly: a WebSocket at /graphql that speaks just
enough graphql-transport-ws (``connection_init``, ``subscribe``, ``ping``, ``complete``) and,
woken by the indexer's Redis message, reads the new rows with the hub's own statement
(``graphql_api.store.events.past``) and sends each subscriber of the row's mirror its ``next``,
the row encoded once, one ``await send`` after another. No gap handling, no visibility, no
care for a socket that does not read: the floor the API's fan-out is measured against.

    python -m bench.api.baseline      # DATABASE_URL, REDIS_URL, BASELINE_PORT, API_WORKERS
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from pydantic import BaseModel

from graphql_api.app import NO_TELEMETRY
from graphql_api.hub import CHANNEL
from graphql_api.pagination import MAX_PAGE, PageArgs
from graphql_api.store import events, grants, jobs, mirrors, models
from graphql_api.types import global_id
from mirror_common.pg import Connection, create_pool

# The API's values, written by hand: enums by name, 64-bit integers as decimal strings.
VISIBILITY = {"Public": "PUBLIC", "Private": "PRIVATE"}
MIRROR_STATUS = {"Active": "ACTIVE", "Frozen": "FROZEN"}
JOB_STATUS = {s: s.upper() for s in ("Requested", "Running", "Completed", "Failed", "Cancelled")}


class GraphQLBody(BaseModel):
    query: str
    operationName: str  # the GraphQL-over-HTTP field name
    variables: dict[str, Any] = {}


def _s(value: Any) -> str | None:
    return None if value is None else str(int(value))


async def mirror(conn: Connection, address: str) -> dict[str, Any]:
    """``query MirrorByAddress($address: Address!) { mirror(address: $address) { id address owner visibility name metadataUri status
    modelVersion jobCount createdAt updatedAt } }``"""
    rows = await mirrors.by_addresses(conn, None, [address])
    if not rows:
        return {"mirror": None}
    r = rows[0]
    seen = bool(r["visible"])
    return {
        "mirror": {
            "id": global_id("Mirror", r["address"]),
            "address": r["address"],
            "owner": r["owner"],
            "visibility": VISIBILITY[r["visibility"]],
            "name": r["name"] if seen else None,
            "metadataUri": r["metadata_uri"] if seen else None,
            "status": MIRROR_STATUS[r["status"]] if seen else None,
            "modelVersion": _s(r["model_version"]) if seen else None,
            "jobCount": _s(r["job_count"]) if seen else None,
            "createdAt": _s(r["created_at_unix"]) if seen else None,
            "updatedAt": _s(r["updated_at_unix"]) if seen else None,
        }
    }


async def nested(conn: Connection, n: int) -> dict[str, Any]:
    """``tests/test_api_dataloaders.py``'s NESTED: a page of mirrors with their grants (and count), jobs
    (and each one's model version) and latest model; the same statements the API's DataLoaders send."""
    page = PageArgs.of(min(n, MAX_PAGE))
    default = PageArgs.of()
    order = mirrors.ORDERS["CREATED_AT_DESC"]
    rows = (await mirrors.page(conn, None, mirrors.MirrorFilter(), order, page))[: page.size]
    total = await mirrors.count(conn, None, mirrors.MirrorFilter())
    seen = [r["address"] for r in rows if r["visible"]]
    grant_pages = await grants.pages_per_mirror(conn, None, seen, default) if seen else {}
    job_pages = await jobs.pages_per_mirror(conn, seen, default) if seen else {}
    latest = {r["mirror"]: r for r in await models.latest(conn, seen)} if seen else {}
    grant_counts = await grants.counts_per_mirror(conn, seen) if seen else {}
    job_addresses = [j["address"] for a in seen for j in job_pages[a][: default.size]]
    by_job = {r["job"]: r for r in await models.by_jobs(conn, job_addresses)} if job_addresses else {}

    def node(r: Any) -> dict[str, Any]:
        a = r["address"]
        if not r["visible"]:
            return {"address": a, "name": None, "grants": None, "trainingJobs": None, "latestModel": None}
        model = latest.get(a)
        return {
            "address": a,
            "name": r["name"],
            "grants": {
                "totalCount": grant_counts[a],
                "edges": [{"node": {"grantee": g["grantee"], "effective": bool(g["effective"])}} for g in grant_pages[a][: default.size]],
            },
            "trainingJobs": {
                "edges": [
                    {
                        "node": {
                            "status": JOB_STATUS[j["status"]],
                            "modelVersion": {"version": _s(by_job[j["address"]]["version"])} if j["address"] in by_job else None,
                        }
                    }
                    for j in job_pages[a][: default.size]
                ]
            },
            "latestModel": {"version": _s(model["version"]), "modelCid": model["model_cid"]} if model is not None else None,
        }

    return {"mirrors": {"totalCount": total, "edges": [{"node": node(r)} for r in rows]}}


class PlainFanout:
    """The fan-out, plainly: subscribers by mirror; on each Redis message, the new rows, each sent to its mirror's."""

    def __init__(self, pool: Any, redis_url: str) -> None:
        self.pool, self.redis_url = pool, redis_url
        self.subscribers: dict[str, dict[tuple[WebSocket, str], None]] = {}  # mirror -> (socket, operation id)
        self.last_id = 0

    async def run(self) -> None:
        async with self.pool.acquire() as conn:
            self.last_id = await events.last_id(conn)
        client = aioredis.from_url(self.redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(CHANNEL)
        try:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    await self.deliver()
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()

    async def deliver(self) -> None:
        async with self.pool.acquire() as conn:
            rows = await events.past(conn, self.last_id, 500)
        for row in rows:
            self.last_id = row["id"]
            data = {"eventId": str(row["id"]), "name": row["name"], "slot": str(row["slot"]), "data": row["payload"]}
            payload = orjson.dumps({"data": {"events": data}}).decode()
            for ws, operation in list(self.subscribers.get(row["mirror"], ())):
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await ws.send_text(f'{{"id":{orjson.dumps(operation).decode()},"type":"next","payload":{payload}}}')

    async def serve(self, ws: WebSocket) -> None:
        await ws.accept(subprotocol="graphql-transport-ws")
        mine: list[tuple[str, tuple[WebSocket, str]]] = []
        try:
            while True:
                message = orjson.loads(await ws.receive_text())
                if message["type"] == "connection_init":
                    await ws.send_text('{"type":"connection_ack"}')
                elif message["type"] == "ping":
                    await ws.send_text('{"type":"pong"}')
                elif message["type"] == "subscribe":
                    key = (ws, message["id"])
                    mirror = message["payload"]["variables"]["mirror"]
                    self.subscribers.setdefault(mirror, {})[key] = None
                    mine.append((mirror, key))
                elif message["type"] == "complete":
                    for mirror, key in mine:
                        if key[1] == message["id"]:
                            self.subscribers.get(mirror, {}).pop(key, None)
        except WebSocketDisconnect:
            pass
        finally:
            for mirror, key in mine:
                self.subscribers.get(mirror, {}).pop(key, None)


def create_app(database_url: str, redis_url: str | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await create_pool(database_url, max_size=10)
        app.state.fanout = PlainFanout(app.state.pool, redis_url) if redis_url else None
        reading = asyncio.create_task(app.state.fanout.run()) if app.state.fanout else None
        try:
            yield
        finally:
            if reading is not None:
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reading
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_TELEMETRY)  # as the API

    @app.post("/graphql")
    async def graphql(body: GraphQLBody, request: Request) -> Response:
        async with request.app.state.pool.acquire() as conn:
            if body.operationName == "MirrorByAddress":
                data = await mirror(conn, str(body.variables["address"]))
            elif body.operationName == "NestedMirrors":
                data = await nested(conn, int(body.variables.get("n", 20)))
            else:
                return Response(orjson.dumps({"errors": [{"message": "unknown operation"}]}), 400, media_type="application/json")
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    @app.websocket("/graphql")
    async def subscriptions(ws: WebSocket) -> None:
        if ws.app.state.fanout is None:
            await ws.close(code=4400, reason="no REDIS_URL: no subscriptions")
            return
        await ws.app.state.fanout.serve(ws)

    return app


def main() -> int:
    from graphql_api.__main__ import uvicorn_options

    port = int(os.environ.get("BASELINE_PORT", "59109"))
    workers = int(os.environ.get("API_WORKERS", "1"))
    options = uvicorn_options()
    if workers > 1:
        uvicorn.run("bench.api.baseline:app_from_env", factory=True, host="127.0.0.1", port=port, workers=workers, **options)
    else:
        uvicorn.run(create_app(os.environ["DATABASE_URL"], os.environ.get("REDIS_URL")), host="127.0.0.1", port=port, **options)
    return 0


def app_from_env() -> FastAPI:
    return create_app(os.environ["DATABASE_URL"], os.environ.get("REDIS_URL"))


if __name__ == "__main__":
    raise SystemExit(main())
