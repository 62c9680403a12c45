"""``python -m trainer``: the trainer daemon (trainer/daemon.py); ``--max-jobs N`` exits after N jobs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import structlog
from prometheus_client import start_http_server
from solana.rpc.async_api import AsyncClient

from mirror_common.config import settings
from mirror_common.ipfs import open_store
from mirror_common.pg import create_pool
from mirror_common.pg_errors import is_connection_error
from mirror_common.retry import DATABASE, retry
from mirror_common.wallet import Wallet
from trainer.chain import TrainerChain
from trainer.daemon import Daemon, load_keys, lock
from trainer.train import training_device

log = structlog.get_logger("trainer")


def configure_logging(json_lines: bool) -> None:
    renderer: structlog.types.Processor = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.format_exc_info,
            renderer,
        ]
    )
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per RPC call otherwise


async def run(max_jobs: int | None) -> int:
    s = settings()
    if s.trainer_threads:
        import torch

        torch.set_num_threads(s.trainer_threads)
    try:
        keys = load_keys(s)
    except (OSError, ValueError) as e:  # a key file or setting that cannot be used: say which, do not start
        log.error("trainer_keys_unusable", error=str(e))
        return 2
    try:
        device = training_device(s.trainer_device)
    except ValueError as e:  # a device this machine does not have: say so rather than fail every job
        log.error("trainer_device_unusable", error=str(e))
        return 2
    held = lock(s, str(keys.authority.pubkey()))
    pool = await retry(
        lambda: create_pool(s.database_url, max_size=4),
        transient=is_connection_error,
        policy=DATABASE,
        log=log,
        event="postgres_unavailable",
    )
    store = open_store(s)
    rpc = AsyncClient(s.mirror_rpc_url)
    daemon = Daemon(s, pool, store, TrainerChain(Wallet(rpc), keys.authority), keys, device)
    if s.trainer_metrics_port:
        start_http_server(s.trainer_metrics_port, addr="127.0.0.1", registry=daemon.metrics.registry)
    log.info("trainer_started", authority=daemon.me, store=type(store).__name__, model_size=s.trainer_model_size, device=str(device))
    try:
        await daemon.run(max_jobs=max_jobs)
    finally:
        await rpc.close()
        await store.close()
        await pool.close()
        held.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer", description=__doc__)
    parser.add_argument("--max-jobs", type=int, default=None, help="exit after this many jobs")
    args = parser.parse_args(argv)
    configure_logging(settings().trainer_log_json)
    try:
        return asyncio.run(run(args.max_jobs))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
