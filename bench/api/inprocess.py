"""The API in one process, without sockets: the ASGI app driven directly with N requests
(``concurrency`` at a time), to read its CPU per request and, with ``--profile``, where it
goes (cProfile; call counts do not move with the machine's load the way times do). The
figures of bench/api/README.md's "What changed" table come from here; ``python -m bench.api``
measures the real thing over sockets.

    python -m bench.api.inprocess                          # mirror(address), 3,000 requests one at a time
    python -m bench.api.inprocess --concurrency 16         # 16 in flight (lookups coalesce)
    python -m bench.api.inprocess --query nested --requests 50 --profile
    python -m bench.api.inprocess --query nested --requests 300 --plain    # CPU beside the plain route's handler
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop

from bench.api import baseline
from bench.api.run import MIRROR_QUERY, NESTED_QUERY, create_database
from bench.common import say
from mirror_common.pg import create_pool
from mirror_common.services import Postgres, Redis


def request_scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "headers": [(b"host", b"api"), (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }


async def run(args: argparse.Namespace) -> None:
    pg, rd = Postgres().start(), Redis().start()
    try:
        url, addresses = await create_database(pg, 100)
        os.environ.update(
            DATABASE_URL=url,
            REDIS_URL=rd.url,
            MIRROR_RPC_URL="http://127.0.0.1:9",
            MIRROR_DATA_DIR=tempfile.mkdtemp(prefix="bench-api-inprocess-"),
            API_JWT_SECRET="bench-secret-" + "x" * 40,
            API_RATE_IP="0",
            API_RATE_WALLET="0",
        )
        from graphql_api.__main__ import tune_gc
        from graphql_api.app import create_app
        from mirror_common.config import Settings

        app = create_app(Settings())
        if args.query == "nested":
            body = orjson.dumps({"query": NESTED_QUERY, "operationName": "NestedMirrors", "variables": {"n": 100}})
        else:
            body = orjson.dumps({"query": MIRROR_QUERY, "operationName": "MirrorByAddress", "variables": {"address": addresses[0]}})
        scope = request_scope(body)
        answers: list[bytes] = []

        async def one() -> None:
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # never: the app reads the body once
                raise AssertionError

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    answers.append(message["body"])

            await app({**scope, "headers": list(scope["headers"])}, receive, send)

        lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        await lifespan.put({"type": "lifespan.startup"})
        started = asyncio.Event()

        async def lifespan_send(message: dict[str, Any]) -> None:
            if message["type"].startswith("lifespan.startup"):
                started.set()

        lifespan_task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, lifespan.get, lifespan_send))
        await started.wait()
        tune_gc()  # as the server does (graphql_api.__main__)
        for _ in range(args.warmup):
            await one()
        say(f"answer: {answers[-1][:160]!r}")

        async def client(n: int) -> None:
            for _ in range(n):
                await one()

        profile = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profile:
            profile.enable()
        await asyncio.gather(*(client(args.requests // args.concurrency) for _ in range(args.concurrency)))
        if profile:
            profile.disable()
        n = args.requests // args.concurrency * args.concurrency
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        statements, lookups = app.state.api.metrics.lookup_counts()
        print(
            f"{args.query}: {n} requests, {args.concurrency} in flight: {wall / n * 1e3:.3f} ms wall, "
            f"{cpu / n * 1e3:.3f} ms CPU a request; {lookups} lookups in {statements} statements"
        )
        if args.plain:
            await compare_with_plain(args, one, url, addresses[0])
        if profile:
            stats = pstats.Stats(profile)
            print(f"{stats.total_calls:,} calls ({stats.total_calls / n:,.0f} a request)")  # type: ignore[attr-defined]
            stats.sort_stats("tottime").print_stats(25)
        await lifespan.put({"type": "lifespan.shutdown"})
        await lifespan_task
    finally:
        rd.stop(remove=True)
        pg.stop(remove=True)


async def compare_with_plain(args: argparse.Namespace, one: Callable[[], Awaitable[None]], url: str, address: str) -> None:
    """The API's CPU per request beside the plain route's handler (bench/api/baseline.py: the same statements and
    JSON, no GraphQL, no HTTP), one after the other, so that the ratio does not move with the machine's speed."""
    pool = await create_pool(url)
    try:

        async def plain() -> None:
            async with pool.acquire() as conn:
                data = await (baseline.nested(conn, 100) if args.query == "nested" else baseline.mirror(conn, address))
            orjson.dumps({"data": data})

        spent = {"api": 0.0, "plain": 0.0}
        for _ in range(args.requests):
            for name, request in (("api", one), ("plain", plain)):
                cpu = time.process_time()
                await request()
                spent[name] += time.process_time() - cpu
        api, plain_ms = (spent[k] / args.requests * 1e3 for k in ("api", "plain"))
        print(f"{args.query}, interleaved: API {api:.3f} ms CPU a request, plain handler {plain_ms:.3f} ms: {api / plain_ms:.2f}x")
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.api.inprocess", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--query", choices=("mirror", "nested"), default="mirror")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--profile", action="store_true", help="cProfile the measured requests; print calls and the top functions")
    ap.add_argument("--plain", action="store_true", help="then as many again, interleaved with the plain route's handler: the CPU ratio")
    uvloop.run(run(ap.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
