"""Stage 3: one handler per event, updating the projections (like a subgraph mapping).

Every handler is an idempotent upsert keyed by the account address (chain identity):
applying an event twice leaves the row as it was. ``PROJECTIONS`` says which rows an
event touches: (table, the payload field holding the row's address, handler).

Ordering: each row keeps ``last_slot``, the slot of the newest event applied to it.
An event older than that (a notification that arrived late), or one for a row that
does not exist yet, makes ``apply_event`` rebuild the row from ``chain_events`` in
chain order (slot, then arrival), so the result never depends on arrival order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from indexer.decode import Event

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


# --- config -----------------------------------------------------------------------

async def config_initialized(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """INSERT INTO config (address, admin, paused, created_at, updated_at, last_slot)
           VALUES ($1, $2, false, $3, $3, $4)
           ON CONFLICT (address) DO UPDATE SET admin = EXCLUDED.admin, last_slot = GREATEST(config.last_slot, EXCLUDED.last_slot)""",
        f["config"], f["admin"], ts(f["timestamp"]), ev.slot,
    )


async def pause_changed(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE config SET paused = $2, updated_at = $3, last_slot = GREATEST(last_slot, $4) WHERE address = $1",
        f["config"], f["paused"], ts(f["timestamp"]), ev.slot,
    )


# --- trainers ---------------------------------------------------------------------

async def trainer_registered(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """INSERT INTO trainers (address, authority, encryption_key, active, registered_at, updated_at, last_slot)
           VALUES ($1, $2, $3, true, $4, $4, $5)
           ON CONFLICT (address) DO UPDATE SET encryption_key = EXCLUDED.encryption_key, active = true,
               updated_at = EXCLUDED.updated_at, last_slot = GREATEST(trainers.last_slot, EXCLUDED.last_slot)""",
        f["trainer"], f["authority"], f["encryption_key"], ts(f["timestamp"]), ev.slot,
    )


async def trainer_deactivated(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE trainers SET active = false, updated_at = $2, last_slot = GREATEST(last_slot, $3) WHERE address = $1",
        f["trainer"], ts(f["timestamp"]), ev.slot,
    )


# --- mirrors ----------------------------------------------------------------------

async def mirror_created(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status,
                               model_version, job_count, created_at, updated_at, created_slot, created_signature, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'Active', 0, 0, $8, $8, $9, $10, $9)
           ON CONFLICT (address) DO NOTHING""",
        f["mirror"], f["creator"], f["owner"], f["mirror_id"], f["name"], f["metadata_uri"], f["visibility"],
        ts(f["timestamp"]), ev.slot, ev.signature,
    )


async def mirror_updated(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """UPDATE mirrors SET name = $2, metadata_uri = $3, visibility = $4, updated_at = $5, last_slot = GREATEST(last_slot, $6)
           WHERE address = $1""",
        f["mirror"], f["name"], f["metadata_uri"], f["visibility"], ts(f["timestamp"]), ev.slot,
    )


async def mirror_transferred(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE mirrors SET owner = $2, updated_at = $3, last_slot = GREATEST(last_slot, $4) WHERE address = $1",
        f["mirror"], f["new_owner"], ts(f["timestamp"]), ev.slot,
    )


async def mirror_frozen(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE mirrors SET status = 'Frozen', updated_at = $2, last_slot = GREATEST(last_slot, $3) WHERE address = $1",
        f["mirror"], ts(f["timestamp"]), ev.slot,
    )


async def mirror_job_requested(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE mirrors SET job_count = GREATEST(job_count, $2), last_slot = GREATEST(last_slot, $3) WHERE address = $1",
        f["mirror"], f["job_id"] + 1, ev.slot,
    )


async def mirror_model_completed(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """UPDATE mirrors SET model_version = GREATEST(model_version, $2), updated_at = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
        f["mirror"], f["version"], ts(f["timestamp"]), ev.slot,
    )


# --- access grants ----------------------------------------------------------------

async def access_granted(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    expires = ts(f["expires_at"]) if f["expires_at"] else None
    await conn.execute(
        """INSERT INTO access_grants (address, mirror, grantee, permissions, expires_at, granted_by, granted_at, updated_at, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
           ON CONFLICT (address) DO UPDATE SET
               permissions = EXCLUDED.permissions, expires_at = EXCLUDED.expires_at, granted_by = EXCLUDED.granted_by,
               granted_at = CASE WHEN access_grants.revoked_at IS NULL THEN access_grants.granted_at ELSE EXCLUDED.granted_at END,
               updated_at = EXCLUDED.updated_at, revoked_at = NULL, revoked_by = NULL,
               last_slot = GREATEST(access_grants.last_slot, EXCLUDED.last_slot)""",
        f["grant"], f["mirror"], f["grantee"], f["permissions"], expires, f["granted_by"], ts(f["timestamp"]), ev.slot,
    )


async def access_revoked(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        "UPDATE access_grants SET revoked_at = $2, revoked_by = $3, last_slot = GREATEST(last_slot, $4) WHERE address = $1",
        f["grant"], ts(f["timestamp"]), f["revoked_by"], ev.slot,
    )


# --- training jobs ----------------------------------------------------------------

async def job_requested(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    p = f["params"]
    await conn.execute(
        """INSERT INTO training_jobs (address, mirror, job_id, requester, dataset_cid, epochs, seq_len, batch_size,
                                     learning_rate_micros, status, requested_at, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'Requested', $10, $11)
           ON CONFLICT (address) DO NOTHING""",
        f["job"], f["mirror"], f["job_id"], f["requester"], f["dataset_cid"], p["epochs"], p["seq_len"], p["batch_size"],
        p["learning_rate_micros"], ts(f["timestamp"]), ev.slot,
    )


async def job_started(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """UPDATE training_jobs SET status = 'Running', trainer = $2, started_at = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
        f["job"], f["trainer"], ts(f["timestamp"]), ev.slot,
    )


async def job_completed(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    m = f["metrics"]
    await conn.execute(
        """UPDATE training_jobs SET status = 'Completed', model_cid = $2, weights_sha256 = $3, final_loss_micros = $4,
               tokens_trained = $5, finished_at = $6, last_slot = GREATEST(last_slot, $7)
           WHERE address = $1""",
        f["job"], f["model_cid"], f["weights_sha256"], m["final_loss_micros"], m["tokens_trained"], ts(f["timestamp"]), ev.slot,
    )


async def job_failed(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """UPDATE training_jobs SET status = 'Failed', failure_code = $2, finished_at = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
        f["job"], f["reason_code"], ts(f["timestamp"]), ev.slot,
    )


async def job_cancelled(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    await conn.execute(
        """UPDATE training_jobs SET status = 'Cancelled', cancelled_by = $2, finished_at = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
        f["job"], f["cancelled_by"], ts(f["timestamp"]), ev.slot,
    )


# --- model versions ---------------------------------------------------------------

async def model_published(conn: asyncpg.Connection, ev: Event) -> None:
    f = ev.fields
    m = f["metrics"]
    await conn.execute(
        """INSERT INTO model_versions (address, mirror, version, job, model_cid, weights_sha256, final_loss_micros,
                                      tokens_trained, created_at, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (address) DO NOTHING""",
        f["model"], f["mirror"], f["version"], f["job"], f["model_cid"], f["weights_sha256"], m["final_loss_micros"],
        m["tokens_trained"], ts(f["timestamp"]), ev.slot,
    )


# --- the mapping ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Projection:
    table: str
    key_field: str  # payload field holding the row's address
    handler: Handler
    creates: bool = False  # the event that brings the row into existence


P = Projection
PROJECTIONS: dict[str, tuple[Projection, ...]] = {
    "ConfigInitialized": (P("config", "config", config_initialized, creates=True),),
    "PauseChanged": (P("config", "config", pause_changed),),
    "TrainerRegistered": (P("trainers", "trainer", trainer_registered, creates=True),),
    "TrainerDeactivated": (P("trainers", "trainer", trainer_deactivated),),
    "MirrorCreated": (P("mirrors", "mirror", mirror_created, creates=True),),
    "MirrorUpdated": (P("mirrors", "mirror", mirror_updated),),
    "MirrorTransferred": (P("mirrors", "mirror", mirror_transferred),),
    "MirrorFrozen": (P("mirrors", "mirror", mirror_frozen),),
    "AccessGranted": (P("access_grants", "grant", access_granted, creates=True),),
    "AccessRevoked": (P("access_grants", "grant", access_revoked),),
    "TrainRequested": (P("training_jobs", "job", job_requested, creates=True), P("mirrors", "mirror", mirror_job_requested)),
    "TrainingStarted": (P("training_jobs", "job", job_started),),
    "TrainingCompleted": (P("training_jobs", "job", job_completed), P("mirrors", "mirror", mirror_model_completed)),
    "TrainingFailed": (P("training_jobs", "job", job_failed),),
    "TrainingCancelled": (P("training_jobs", "job", job_cancelled),),
    "ModelPublished": (P("model_versions", "model", model_published, creates=True),),
}
PROJECTION_TABLES = ("config", "trainers", "mirrors", "access_grants", "training_jobs", "model_versions")


def _events_touching(table: str) -> dict[str, Projection]:
    return {name: p for name, ps in PROJECTIONS.items() for p in ps if p.table == table}


_BY_TABLE = {t: _events_touching(t) for t in PROJECTION_TABLES}
_KEY_FIELD = {t: next(iter(ps.values())).key_field for t, ps in _BY_TABLE.items()}
_CREATING = {t: [n for n, p in ps.items() if p.creates] for t, ps in _BY_TABLE.items()}


def event_from_row(row: Any) -> Event:
    import json

    payload = row["payload"]
    fields = json.loads(payload) if isinstance(payload, str) else payload
    return Event(row["signature"], row["event_index"], row["slot"], None, row["name"], fields, row["instruction_index"] or 0, row["id"])


async def rebuild_row(conn: asyncpg.Connection, table: str, key: str) -> int:
    """Recomputes one projection row from chain_events in chain order; returns the events replayed.

    Chain order is slot, then (within a slot, where the logs give no position) the
    creating event first, then arrival order, which is the node's order for both
    sources; only events of one row reordered within one slot could still mislead it.
    """
    handlers = _BY_TABLE[table]
    await conn.execute(f"DELETE FROM {table} WHERE address = $1", key)
    rows = await conn.fetch(
        f"""SELECT id, signature, event_index, slot, name, payload, instruction_index FROM chain_events
            WHERE payload ? $3 AND payload->>$3 = $1 AND name = ANY($2::text[])
            ORDER BY slot, name = ANY($4::text[]) DESC, id, event_index""",
        key, list(handlers), _KEY_FIELD[table], _CREATING[table],
    )
    for r in rows:
        await handlers[r["name"]].handler(conn, event_from_row(r))
    return len(rows)


async def apply_event(conn: asyncpg.Connection, ev: Event) -> None:
    """Applies a newly stored event (its chain_events row is already written)."""
    for p in PROJECTIONS.get(ev.name, ()):
        key = ev.fields[p.key_field]
        last = await conn.fetchval(f"SELECT last_slot FROM {p.table} WHERE address = $1 FOR UPDATE", key)
        if last is None or last > ev.slot:
            # Missing row (this event creates it, or its creation has not arrived) or a late event.
            await rebuild_row(conn, p.table, key)
        else:
            await p.handler(conn, ev)


async def rebuild_all(conn: asyncpg.Connection) -> int:
    """Rebuilds every projection from chain_events (``--reindex``), in one transaction."""
    count = 0
    async with conn.transaction():
        await conn.execute(f"TRUNCATE {', '.join(PROJECTION_TABLES)}")
        cur = conn.cursor(
            "SELECT id, signature, event_index, slot, name, payload, instruction_index FROM chain_events ORDER BY slot, id, event_index"
        )
        async for r in cur:
            ev = event_from_row(r)
            for p in PROJECTIONS.get(ev.name, ()):
                await p.handler(conn, ev)
            count += 1
    return count
