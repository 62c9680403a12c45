"""structlog for the indexer's commands: to stderr (stdout stays for reports), console or JSON lines."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(json_lines: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call otherwise
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso"), renderer],
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
