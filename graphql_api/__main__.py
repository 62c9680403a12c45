"""``python -m graphql_api``: the API under uvicorn on API_HOST:API_PORT (default 127.0.0.1:59102),
with TLS when API_TLS_CERT and API_TLS_KEY are set, in API_WORKERS processes (default 1)."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from graphql_api.app import create_app
from graphql_api.state import jwt_secret
from mirror_common.config import Settings, settings


def uvicorn_options() -> dict[str, Any]:
    """What the API runs under (bench.api.baseline runs the plain route under the same): uvloop and
    the httptools parser, named so that a missing one fails at start instead of falling back. No
    permessage-deflate on WebSockets: a subscription's messages are a few hundred bytes, and each
    connection's zlib state held about 40 KiB (1,000 subscribers: 209 MiB, without it 167 MiB).
    X-Forwarded-For is believed from API_FORWARDED_ALLOW_IPS only (the rate limits and IP lists
    judge the address it names); with none, the peer's address is the client's."""
    trusted = settings().api_forwarded_allow_ips.strip()
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "log_level": "warning",
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
    }


def tune_gc() -> None:
    """The cyclic garbage collector, set for a server (measured on the 2-core benchmark machine, bench/api/README.md):

    - The schema, the modules and the app live as long as the process: out of the collector's sight
      (``gc.freeze``). They are about 120,000 objects; a full pass over them took 60 ms, a pause that
      every full collection added to whatever was running.
    - A young-generation pass walks every young object still alive, and with many requests in flight
      those are many: with the default threshold (a pass every 700 allocations) 16 concurrent nested
      100-mirror queries cost 95-130 ms of CPU each, against 63 ms alone; with a pass every 10,000
      allocations, 70-80 ms, and mirror(address) at 16 clients had a p99 of 28 ms instead of 47 ms.
      (Every 50,000: the same CPU, but each pass paused long enough to double that p99, back when every
      request left its rows in reference cycles.) Dead objects
      are freed at once by reference counting either way; only garbage in reference cycles waits longer.
    - Since a request leaves no cyclic garbage at all (tests/test_api_request_memory.py), a pass only walks
      the live objects of the requests in flight and frees nothing: with 16 nested queries in flight, 2.6 ms
      of CPU a request at 10,000. At 100,000 (alternating runs, 2026-11-27 11:15-11:22 UTC) the nested query
      took 10-18% less CPU at 16 and 64 clients, and neither mirror(address)'s p99 nor fan-out's rose.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 10, 10)


def configure_logging(s: Settings) -> None:
    renderer: structlog.types.Processor = structlog.processors.JSONRenderer() if s.api_log_json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ]
    )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    # Strawberry logs masked errors with their trace; ours go to our own log line instead.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


def shared_metrics_directory(s: Settings) -> None:
    """With several workers, each keeps its metrics in files of one directory (Prometheus' multiprocess
    mode) and ``/metrics`` sums them, so a scrape, whichever worker answers it, counts every worker.
    Set before the workers start: each imports prometheus_client afresh and reads it then. A fresh
    directory per start: counters start from zero, as a single process's do."""
    directory = Path(s.mirror_data_dir) / "api-metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def worker_app() -> FastAPI:
    """The app of one worker process (API_WORKERS > 1: uvicorn starts each worker afresh and calls this)."""
    s = settings()
    configure_logging(s)
    app = create_app(s)
    tune_gc()
    return app


def main() -> int:
    s = settings()
    configure_logging(s)
    tls: dict[str, Any] = {}
    if bool(s.api_tls_cert) != bool(s.api_tls_key):
        # Half a TLS setting must not quietly serve plain HTTP.
        print("API_TLS_CERT and API_TLS_KEY go together: set both (TLS) or neither (plain HTTP)", file=sys.stderr)
        return 2
    if s.api_tls_cert and s.api_tls_key:
        tls = {"ssl_certfile": str(s.api_tls_cert), "ssl_keyfile": str(s.api_tls_key)}
    if s.api_workers > 1:
        jwt_secret(s)  # made (if it is to be) here, once, before the workers read it
        shared_metrics_directory(s)
        uvicorn.run(
            "graphql_api.__main__:worker_app",
            factory=True,
            workers=s.api_workers,
            host=s.api_host,
            port=s.api_port,
            **uvicorn_options(),
            **tls,
        )
        return 0
    app = create_app(s)
    tune_gc()
    uvicorn.run(app, host=s.api_host, port=s.api_port, **uvicorn_options(), **tls)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
