"""The read models belong to one chain: the one whose genesis hash the database records.

Guarantees, and how:

- **Recorded once.** ``chain_identity`` (sql/migrations/0006) holds at most one row: the
  ``getGenesisHash`` of the node the indexer first followed. The indexer records it on its
  first connect to a node (an empty database), in the same check that later compares it.
- **Checked on every connect, before anything is written.** ``verify_chain`` runs at the
  start of ``Indexer.follow()``, i.e. at start and after every reconnect (a node replaced
  on the same port drops the WebSocket first), before the backfill. A node of another
  chain raises ``ChainMismatch``, naming both hashes and what to do; the indexer exits
  non-zero instead of reconnecting forever, and ``python -m indexer.reconcile`` refuses the
  same way. A node that cannot be reached is no mismatch: the RPC error goes to the
  caller's reconnect loop, like any connection error.
- **A database from before the record** (rows but no recorded hash) is adopted only when
  the node knows the cursor's transaction; otherwise it is refused like a mismatch.
- **Reset in one transaction.** ``reset_chain`` (``python -m indexer --reset-chain``) empties
  chain_events, every projection (``apply.PROJECTION_TABLES``), skipped_items and both
  cursors, records the node's genesis hash and logs the row counts it dropped, all in one
  transaction under the commit lock: a crash leaves the old chain's rows or none of them.
  ``chain_events`` is emptied with TRUNCATE (its append-only row trigger does not see
  TRUNCATE; a statement trigger refuses TRUNCATE outside this transaction). Its identity is
  *not* restarted: event ids go on increasing across a reset, so a Redis consumer that
  dedupes on ``id`` never sees an old id come back for a new event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import structlog

from indexer.apply import PROJECTION_TABLES
from indexer.commit import COMMIT_LOCK
from indexer.source import Rpc
from mirror_common.pg import Connection
from mirror_common.retry import RECONNECT, retry

log = structlog.get_logger("indexer.chain")

# What --reset-chain empties: the log, everything derived from it, and where the indexer stood.
RESET_TABLES: tuple[str, ...] = ("chain_events", *PROJECTION_TABLES, "skipped_items", "indexer_cursor", "publish_cursor")
RESET_HINT = "python -m indexer --reset-chain"


class ChainMismatch(RuntimeError):
    """The node serves another chain than the one the database indexes. Not transient:
    waiting cannot make it go away, only an operator can (a reset, or the right node)."""

    def __init__(self, recorded: str | None, node: str, rpc_url: str, message: str) -> None:
        self.recorded = recorded
        self.node = node
        self.rpc_url = rpc_url
        super().__init__(message)


@dataclass(frozen=True)
class ChainIdentity:
    genesis_hash: str
    program_id: str
    rpc_url: str | None
    recorded_at: datetime


@dataclass
class ResetReport:
    old_genesis_hash: str | None
    new_genesis_hash: str
    dropped: dict[str, int] = field(default_factory=dict)
    last_event_id: int | None = None  # new events get ids above it


async def node_genesis_hash(rpc: Rpc) -> str:
    """``getGenesisHash`` (the RPC client retries transient HTTP errors, then raises them)."""
    value = await rpc.call("getGenesisHash")
    if not isinstance(value, str) or not value:
        raise RuntimeError(f"{rpc.url}: getGenesisHash returned {value!r}")
    return value


async def read_identity(conn: Connection) -> ChainIdentity | None:
    row = await conn.fetchrow("SELECT genesis_hash, program_id, rpc_url, recorded_at FROM chain_identity")
    if row is None:
        return None
    return ChainIdentity(row["genesis_hash"], row["program_id"], row["rpc_url"], row["recorded_at"])


def mismatch(recorded: ChainIdentity, node: str, rpc_url: str) -> ChainMismatch:
    return ChainMismatch(
        recorded.genesis_hash,
        node,
        rpc_url,
        f"chain mismatch: the database indexes the chain with genesis hash {recorded.genesis_hash} "
        f"(recorded {recorded.recorded_at:%Y-%m-%d %H:%M:%S %Z}), but the node at {rpc_url} has genesis hash {node}. "
        f"Its rows would sit beside rows of another chain, so nothing was written. "
        f"If the node's chain is the one to index (a localnet reset), start the read models afresh: {RESET_HINT} "
        f"(it empties chain_events and every projection); otherwise point MIRROR_RPC_URL at a node of chain {recorded.genesis_hash}.",
    )


async def _last_indexed_signature(conn: Connection, program_id: str) -> str | None:
    sig = await conn.fetchval(
        "SELECT signature FROM indexer_cursor WHERE program_id = $1 AND commitment = 'confirmed' AND signature IS NOT NULL", program_id
    )
    if sig is None:
        sig = await conn.fetchval("SELECT signature FROM chain_events ORDER BY id DESC LIMIT 1")
    return str(sig) if sig is not None else None


async def _adopt(conn: Connection, rpc: Rpc, program_id: str, node: str) -> None:
    """A database with rows but no recorded hash (made before migration 0006): its rows are
    this chain's only if the node knows the last transaction they come from."""
    sig = await _last_indexed_signature(conn, program_id)
    if sig is None:
        return
    status = (await rpc.call("getSignatureStatuses", [sig], {"searchTransactionHistory": True}))["value"][0]
    if status is None:
        raise ChainMismatch(
            None,
            node,
            rpc.url,
            f"chain mismatch: the database holds events but no recorded genesis hash, and the node at {rpc.url} "
            f"(genesis hash {node}) does not know its last indexed transaction {sig}: the rows come from another chain. "
            f"Start the read models afresh for this node's chain: {RESET_HINT}.",
        )


async def verify_chain(conn: Connection, rpc: Rpc, program_id: str, *, record: bool = True) -> str:
    """Compares the node's genesis hash with the recorded one; raises ChainMismatch when
    they differ. With nothing recorded: records the node's (``record``) or lets it pass
    (reconcile: it writes nothing unless asked to repair). Returns the node's hash."""
    node = await node_genesis_hash(rpc)
    recorded = await read_identity(conn)
    if recorded is None:
        if not record:
            log.info("chain_not_recorded", node_genesis_hash=node)
            return node
        await _adopt(conn, rpc, program_id, node)
        # Two first starts at once: the first insert wins, the other is compared with it.
        await conn.execute(
            """INSERT INTO chain_identity (genesis_hash, program_id, rpc_url) VALUES ($1, $2, $3)
               ON CONFLICT (singleton) DO NOTHING""",
            node,
            program_id,
            rpc.url,
        )
        recorded = await read_identity(conn)
        assert recorded is not None
        if recorded.genesis_hash == node:
            log.info("chain_recorded", genesis_hash=node, rpc_url=rpc.url)
    if recorded.genesis_hash != node:
        raise mismatch(recorded, node, rpc.url)
    return node


def is_node_unreachable(exc: BaseException) -> bool:
    """The node did not answer (refused, reset, timed out, 5xx after the client's retries):
    worth waiting for. An answer, a mismatch included, is not."""
    return isinstance(exc, httpx.HTTPError)


def log_mismatch(e: ChainMismatch) -> None:
    log.error(
        "chain_mismatch",
        alert=True,
        recorded_genesis_hash=e.recorded,
        node_genesis_hash=e.node,
        rpc_url=e.rpc_url,
        error=str(e),
        action=RESET_HINT,
    )


async def wait_for_genesis_hash(rpc: Rpc) -> str:
    """The node's genesis hash, waiting (with backoff) while the node is unreachable."""
    return await retry(
        lambda: node_genesis_hash(rpc), transient=is_node_unreachable, policy=RECONNECT, log=log, event="node_unavailable", url=rpc.url
    )


async def reset_chain(conn: Connection, rpc: Rpc, program_id: str) -> ResetReport:
    """``--reset-chain``: empties the read models and records the node's chain, in one
    transaction (see the module docstring). Logs what it dropped; returns it too."""
    node = await wait_for_genesis_hash(rpc)
    async with conn.transaction():
        # The same lock as every commit: a --retry-skipped beside us cannot write half into the old chain.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", COMMIT_LOCK)
        old = await read_identity(conn)
        dropped = {t: int(await conn.fetchval(f"SELECT count(*) FROM {t}")) for t in RESET_TABLES}
        last_id = await conn.fetchval("SELECT max(id) FROM chain_events")
        await conn.execute("SELECT set_config('mirror.chain_reset', 'on', true)")  # lets the TRUNCATE guard through
        await conn.execute(f"TRUNCATE {', '.join(RESET_TABLES)} CONTINUE IDENTITY")
        await conn.execute("DELETE FROM chain_identity")
        await conn.execute("INSERT INTO chain_identity (genesis_hash, program_id, rpc_url) VALUES ($1, $2, $3)", node, program_id, rpc.url)
        await conn.execute(
            "INSERT INTO chain_resets (old_genesis_hash, new_genesis_hash, dropped, last_event_id) VALUES ($1, $2, $3::text::jsonb, $4)",
            old.genesis_hash if old else None,
            node,
            json.dumps(dropped),
            last_id,
        )
    report = ResetReport(old.genesis_hash if old else None, node, dropped, last_id)
    log.warning(
        "chain_reset",
        old_genesis_hash=report.old_genesis_hash,
        new_genesis_hash=node,
        rpc_url=rpc.url,
        dropped=dropped,
        event_ids_continue_after=last_id,
    )
    return report
