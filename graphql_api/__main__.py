"""``python -m graphql_api``: the API under uvicorn on API_HOST:API_PORT (default 127.0.0.1:59102),
with TLS when API_TLS_CERT and API_TLS_KEY are set."""

from __future__ import annotations

import logging
import sys

import structlog
import uvicorn

from graphql_api.app import create_app
from mirror_common.config import settings


def main() -> int:
    s = settings()
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
    tls = {}
    if s.api_tls_cert and s.api_tls_key:
        tls = {"ssl_certfile": str(s.api_tls_cert), "ssl_keyfile": str(s.api_tls_key)}
    uvicorn.run(create_app(s), host=s.api_host, port=s.api_port, log_level="warning", ws="websockets-sansio", **tls)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
