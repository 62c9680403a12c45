"""Stage 4: events, projections, skipped items and the cursor in ONE database transaction.

``INSERT ... ON CONFLICT (signature, event_index) DO NOTHING RETURNING id`` is the
exactly-once gate: only an event stored now is applied to the projections, so the
same event arriving from the live stream and from backfill (or again after a crash)
is applied once. A crash before COMMIT leaves nothing; after it, everything.
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.apply import apply_events
from indexer.decode import DecodedTx, Event
from mirror_common.pg import Connection

COMMIT_LOCK = 0x4D495243


_INSERT_EVENTS = """
INSERT INTO chain_events (signature, event_index, slot, block_time, block_time_unix, program_id, name, payload, instruction_index)
SELECT u.signature, u.event_index, u.slot, chain_time(u.block_time), u.block_time, $1, u.name, u.payload, u.instruction_index
FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::text[], $7::jsonb[], $8::int[])
     WITH ORDINALITY AS u(signature, event_index, slot, block_time, name, payload, instruction_index, ord)
ORDER BY u.ord
ON CONFLICT (signature, event_index) DO NOTHING
RETURNING signature, event_index, id"""


async def commit_batch(conn: Connection, program_id: str, txs: Sequence[DecodedTx], *, advance_cursor: bool = True) -> list[Event]:
    """Stores and applies a batch (chain order); returns the events stored now (not seen before).
    ``advance_cursor=False`` for transactions fetched out of turn (a retried skip)."""
    events: dict[tuple[str, int], Event] = {}
    for tx in txs:
        for ev in tx.events:
            events.setdefault((ev.signature, ev.event_index), ev)
    batch = list(events.values())
    for e in batch:
        e.id = None  # set below from RETURNING (not left over from an attempt that rolled back)
    stored: list[Event] = []
    async with conn.transaction():
        # Commits are serialised even if two indexers ever run (the session lock of the
        # service can be lost with a database restart): ids then commit in order, which
        # the publisher's watermark relies on.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", COMMIT_LOCK)
        if batch:
            rows = await conn.fetch(
                _INSERT_EVENTS,
                program_id,
                [e.signature for e in batch],
                [e.event_index for e in batch],
                [e.slot for e in batch],
                [e.block_time for e in batch],
                [e.name for e in batch],
                [e.fields for e in batch],
                [e.instruction_index for e in batch],
            )
            for r in rows:
                ev = events[(r["signature"], r["event_index"])]
                ev.id = r["id"]
            stored = [e for e in batch if e.id is not None]  # chain order, new ones only
            await apply_events(conn, stored)
        skips = [s for tx in txs for s in tx.skips]
        if skips:
            await conn.executemany(
                """INSERT INTO skipped_items (signature, event_index, slot, program_id, reason, detail, raw)
                   VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (signature, event_index, reason) DO NOTHING""",
                [(s.signature, s.event_index, s.slot, program_id, s.reason, s.detail, s.raw) for s in skips],
            )
        if txs and advance_cursor:
            top = max(t.slot for t in txs)
            newest = [t for t in txs if t.slot == top][-1]  # ties: the last in chain order
            await conn.execute(
                """INSERT INTO indexer_cursor (program_id, commitment, signature, slot) VALUES ($1, 'confirmed', $2, $3)
                   ON CONFLICT (program_id, commitment) DO UPDATE
                       SET signature = EXCLUDED.signature, slot = EXCLUDED.slot, updated_at = now()
                   WHERE indexer_cursor.slot <= EXCLUDED.slot""",
                program_id,
                newest.signature,
                newest.slot,
            )
    return stored


async def read_cursor(conn: Connection, program_id: str, commitment: str = "confirmed") -> tuple[str | None, int]:
    row = await conn.fetchrow(
        "SELECT signature, slot FROM indexer_cursor WHERE program_id = $1 AND commitment = $2", program_id, commitment
    )
    return (row["signature"], row["slot"]) if row else (None, 0)


async def record_skip(conn: Connection, program_id: str, signature: str, slot: int | None, reason: str, detail: str) -> None:
    await conn.execute(
        """INSERT INTO skipped_items (signature, event_index, slot, program_id, reason, detail)
           VALUES ($1, -1, $2, $3, $4, $5) ON CONFLICT (signature, event_index, reason) DO NOTHING""",
        signature,
        slot,
        program_id,
        reason,
        detail,
    )
