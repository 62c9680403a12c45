"""Stage 4: events, projections, skipped items and the cursor in ONE database transaction.

``INSERT ... ON CONFLICT (signature, event_index) DO NOTHING RETURNING id`` is the
exactly-once gate: only an event stored now is applied to the projections, so the
same event arriving from the live stream and from backfill (or again after a crash)
is applied once. A crash before COMMIT leaves nothing; after it, everything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from indexer.apply import apply_event
from indexer.decode import DecodedTx, Event


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, **kw: object) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, init=init_connection, min_size=1, max_size=kw.pop("max_size", 4), **kw)  # type: ignore[arg-type]


async def commit_batch(conn: asyncpg.Connection, program_id: str, txs: Sequence[DecodedTx]) -> list[Event]:
    """Stores and applies a batch (chain order); returns the events stored now (not seen before)."""
    stored: list[Event] = []
    async with conn.transaction():
        for tx in txs:
            for ev in tx.events:
                block_time = None if ev.block_time is None else ev.block_time
                ev_id = await conn.fetchval(
                    """INSERT INTO chain_events (signature, event_index, slot, block_time, program_id, name, payload, instruction_index)
                       VALUES ($1, $2, $3, to_timestamp($4::bigint), $5, $6, $7, $8)
                       ON CONFLICT (signature, event_index) DO NOTHING RETURNING id""",
                    ev.signature, ev.event_index, ev.slot, block_time, program_id, ev.name, ev.fields, ev.instruction_index,
                )
                if ev_id is None:
                    continue
                ev.id = ev_id
                await apply_event(conn, ev)
                stored.append(ev)
            for s in tx.skips:
                await conn.execute(
                    """INSERT INTO skipped_items (signature, event_index, slot, program_id, reason, detail, raw)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (signature, event_index, reason) DO NOTHING""",
                    s.signature, s.event_index, s.slot, program_id, s.reason, s.detail, s.raw,
                )
        if txs:
            newest = max(txs, key=lambda t: t.slot)  # ties: the last in chain order
            newest = [t for t in txs if t.slot == newest.slot][-1]
            await conn.execute(
                """INSERT INTO indexer_cursor (program_id, commitment, signature, slot) VALUES ($1, 'confirmed', $2, $3)
                   ON CONFLICT (program_id, commitment) DO UPDATE SET signature = EXCLUDED.signature, slot = EXCLUDED.slot, updated_at = now()
                   WHERE indexer_cursor.slot <= EXCLUDED.slot""",
                program_id, newest.signature, newest.slot,
            )
    return stored


async def read_cursor(conn: asyncpg.Connection, program_id: str, commitment: str = "confirmed") -> tuple[str | None, int]:
    row = await conn.fetchrow("SELECT signature, slot FROM indexer_cursor WHERE program_id = $1 AND commitment = $2", program_id, commitment)
    return (row["signature"], row["slot"]) if row else (None, 0)


async def record_skip(conn: asyncpg.Connection, program_id: str, signature: str, slot: int | None, reason: str, detail: str) -> None:
    await conn.execute(
        """INSERT INTO skipped_items (signature, event_index, slot, program_id, reason, detail)
           VALUES ($1, -1, $2, $3, $4, $5) ON CONFLICT (signature, event_index, reason) DO NOTHING""",
        signature, slot, program_id, reason, detail,
    )
