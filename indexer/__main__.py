"""``python -m indexer``: run the indexer (migrating first), or rebuild projections.

    python -m indexer                        # migrate, backfill from the cursor, follow live
    python -m indexer --reindex              # rebuild every projection from chain_events, exit
    python -m indexer --reindex --from-slot N  # fetch the chain again from slot N (0: all of it),
                                             # store what chain_events lacks, rebuild, exit
    python -m indexer --retry-skipped        # apply the open skipped_items again (after a fix), report, exit
    python -m indexer --reset-chain          # the node serves a new chain (a localnet reset): empty the read
                                             # models, record the node's genesis hash, then run as usual

Every mode checks that the node serves the chain whose genesis hash the database records
(indexer/chain_identity.py); on another chain it stops with exit status 3 and says what to do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING

import structlog

from indexer.logsetup import configure_logging
from indexer.migrate import migrate
from mirror_common.config import settings

if TYPE_CHECKING:
    from indexer.service import IndexerConfig, RetryReport

CHAIN_MISMATCH_EXIT = 3  # the node serves another chain: an operator must act (--reset-chain or the right node)


async def reindex(dsn: str, cfg: IndexerConfig | None = None, from_slot: int | None = None) -> int:
    from indexer.apply import rebuild_all
    from mirror_common.pg import create_pool

    pool = await create_pool(dsn)
    try:
        if from_slot is not None and cfg is not None:
            from indexer.chain_identity import verify_chain
            from indexer.service import Indexer

            ix = Indexer(cfg)
            ix.pool = pool
            try:
                async with pool.acquire() as conn:  # what it fetches must be the recorded chain's
                    await verify_chain(conn, ix.rpc, cfg.program_id)
                await ix.catch_up(from_slot=from_slot)
            finally:
                await ix.rpc.close()
        async with pool.acquire() as conn:
            return await rebuild_all(conn)
    finally:
        await pool.close()


async def retry_skipped(cfg: IndexerConfig) -> RetryReport:
    """``--retry-skipped``: one pass over the open skipped items. Safe beside a running
    indexer: every commit takes the same transaction lock."""
    from indexer.chain_identity import verify_chain
    from indexer.service import Indexer
    from mirror_common.pg import create_pool

    ix = Indexer(cfg)
    ix.pool = await create_pool(cfg.database_url)
    try:
        async with ix.pool.acquire() as conn:  # the items belong to the recorded chain: refuse another node
            await verify_chain(conn, ix.rpc, cfg.program_id, record=False)
        report = await ix.retry_skipped()
    finally:
        await ix.close()
    structlog.get_logger("indexer").info(
        "retry_skipped_done", resolved=report.resolved, still_failing=len(report.still_failing), unavailable=report.unavailable
    )
    return report


async def migrate_when_reachable(dsn: str, log: structlog.typing.FilteringBoundLogger) -> list[str]:
    """Migrates, waiting (with backoff) while PostgreSQL is starting or restarting."""
    from mirror_common.pg_errors import is_connection_error
    from mirror_common.retry import DATABASE, retry

    return await retry(lambda: migrate(dsn), transient=is_connection_error, policy=DATABASE, log=log, event="postgres_unavailable")


def main(argv: list[str] | None = None) -> int:
    s = settings()
    ap = argparse.ArgumentParser(prog="python -m indexer", description="Mirror program -> PostgreSQL read models -> Redis")
    ap.add_argument("--rpc-url", default=s.mirror_rpc_url)
    ap.add_argument("--ws-url", default=s.ws_url)
    ap.add_argument("--program-id", default=s.mirror_program_id)
    ap.add_argument("--database-url", default=s.database_url)
    ap.add_argument("--redis-url", default=s.redis_url)
    ap.add_argument("--metrics-port", type=int, default=s.indexer_metrics_port)
    ap.add_argument("--backfill-batch", type=int, default=s.indexer_backfill_batch)
    ap.add_argument("--reindex", action="store_true", help="rebuild all projections from chain_events and exit")
    ap.add_argument("--from-slot", type=int, default=None, help="with --reindex: first fetch the chain again from this slot")
    ap.add_argument(
        "--retry-skipped",
        action="store_true",
        help="apply the open skipped_items again (apply_error, rpc_unavailable, decode_error, ...), print a report, exit",
    )
    ap.add_argument(
        "--reset-chain",
        action="store_true",
        help="the node serves another chain than the recorded one (a localnet reset): empty chain_events, every "
        "projection, skipped_items and the cursors, record the node's genesis hash, then run as usual",
    )
    ap.add_argument("--json-logs", action="store_true", default=s.indexer_log_json)
    args = ap.parse_args(argv)
    if args.reset_chain and (args.reindex or args.retry_skipped):
        ap.error("--reset-chain runs the indexer afterwards; it does not combine with --reindex or --retry-skipped")
    configure_logging(args.json_logs)
    log = structlog.get_logger("indexer")

    applied = asyncio.run(migrate_when_reachable(args.database_url, log))
    if applied:
        log.info("migrated", applied=applied)
    from indexer.chain_identity import ChainMismatch

    try:
        return _run(args, log)
    except ChainMismatch as e:  # logged as chain_mismatch where it was found; the plain text for the operator
        print(f"python -m indexer: {e}", file=sys.stderr)
        return CHAIN_MISMATCH_EXIT


def _run(args: argparse.Namespace, log: structlog.typing.FilteringBoundLogger) -> int:
    from indexer.metrics import Metrics
    from indexer.service import Indexer, IndexerConfig

    if args.reindex:
        cfg = IndexerConfig(
            args.rpc_url, args.ws_url, args.program_id, args.database_url, args.redis_url, backfill_batch=args.backfill_batch, progress=True
        )
        n = asyncio.run(reindex(args.database_url, cfg, args.from_slot))
        log.info("reindexed", events=n)
        return 0

    if args.retry_skipped:
        cfg = IndexerConfig(
            args.rpc_url, args.ws_url, args.program_id, args.database_url, args.redis_url, backfill_batch=args.backfill_batch
        )
        report = asyncio.run(retry_skipped(cfg))
        print(json.dumps(report.summary(), default=str))
        return 0 if not report.still_failing and not report.unavailable else 1

    metrics = Metrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr="127.0.0.1", registry=metrics.registry)
    cfg = IndexerConfig(
        args.rpc_url, args.ws_url, args.program_id, args.database_url, args.redis_url, backfill_batch=args.backfill_batch, progress=True
    )
    try:
        asyncio.run(Indexer(cfg, metrics).run(reset_chain=args.reset_chain))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
