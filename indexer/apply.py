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

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from indexer.decode import Event
from mirror_common.pg import Connection

DEFAULT_PUBKEY = "11111111111111111111111111111111"  # Pubkey::default(): "none" in an account field


@dataclass(frozen=True, slots=True)
class Handler:
    """One SQL statement and how an event fills its parameters: applied alone
    (``await handler(conn, ev)``) or for many events at once (``executemany``)."""

    sql: str
    args: Callable[[Event], tuple[Any, ...]]

    async def __call__(self, conn: Connection, ev: Event) -> None:
        await conn.execute(self.sql, *self.args(ev))


# Timestamps are passed as the chain's raw i64 and stored twice: `<column>_unix` (lossless)
# and `<column>` = chain_time(raw), a timestamptz that is ±infinity where a date cannot go
# (sql/migrations/0004). No handler turns a chain value into a Python datetime.

# --- config -----------------------------------------------------------------------


def _config_initialized(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["config"],
        f["admin"],
        f["timestamp"],
        ev.slot,
    )


config_initialized = Handler(
    """INSERT INTO config (address, admin, paused, created_at, updated_at, created_at_unix, updated_at_unix, last_slot)
           VALUES ($1, $2, false, chain_time($3), chain_time($3), $3, $3, $4)
           ON CONFLICT (address) DO UPDATE SET admin = EXCLUDED.admin, last_slot = GREATEST(config.last_slot, EXCLUDED.last_slot)""",
    _config_initialized,
)


def _pause_changed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["config"],
        f["paused"],
        f["timestamp"],
        ev.slot,
    )


pause_changed = Handler(
    """UPDATE config SET paused = $2, updated_at = chain_time($3), updated_at_unix = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _pause_changed,
)


def _admin_proposed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["config"],
        f["proposed_admin"],
        f["timestamp"],
        ev.slot,
    )


# Proposing the default address withdraws the proposal.
admin_proposed = Handler(
    f"""UPDATE config SET pending_admin = NULLIF($2, '{DEFAULT_PUBKEY}'), updated_at = chain_time($3), updated_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _admin_proposed,
)


def _admin_changed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["config"],
        f["new_admin"],
        f["timestamp"],
        ev.slot,
    )


admin_changed = Handler(
    """UPDATE config SET admin = $2, pending_admin = NULL, updated_at = chain_time($3), updated_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _admin_changed,
)


# --- trainers ---------------------------------------------------------------------


def _trainer_registered(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["trainer"],
        f["authority"],
        f["encryption_key"],
        f["timestamp"],
        ev.slot,
    )


trainer_registered = Handler(
    """INSERT INTO trainers (address, authority, encryption_key, active, registered_at, updated_at, registered_at_unix,
                                updated_at_unix, last_slot)
           VALUES ($1, $2, $3, true, chain_time($4), chain_time($4), $4, $4, $5)
           ON CONFLICT (address) DO UPDATE SET encryption_key = EXCLUDED.encryption_key, active = true,
               updated_at = EXCLUDED.updated_at, updated_at_unix = EXCLUDED.updated_at_unix,
                          last_slot = GREATEST(trainers.last_slot, EXCLUDED.last_slot)""",
    _trainer_registered,
)


def _trainer_deactivated(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["trainer"],
        f["timestamp"],
        ev.slot,
    )


trainer_deactivated = Handler(
    """UPDATE trainers SET active = false, updated_at = chain_time($2), updated_at_unix = $2, last_slot = GREATEST(last_slot, $3)
           WHERE address = $1""",
    _trainer_deactivated,
)


# --- mirrors ----------------------------------------------------------------------


def _mirror_created(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["creator"],
        f["owner"],
        f["mirror_id"],
        f["name"],
        f["metadata_uri"],
        f["visibility"],
        f["timestamp"],
        ev.slot,
        ev.signature,
    )


mirror_created = Handler(
    """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version, job_count,
                               created_at, updated_at, created_at_unix, updated_at_unix, created_slot, created_signature, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'Active', 0, 0, chain_time($8), chain_time($8), $8, $8, $9, $10, $9)
           ON CONFLICT (address) DO NOTHING""",
    _mirror_created,
)


def _mirror_updated(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["name"],
        f["metadata_uri"],
        f["visibility"],
        f["timestamp"],
        ev.slot,
    )


mirror_updated = Handler(
    """UPDATE mirrors SET name = $2, metadata_uri = $3, visibility = $4, updated_at = chain_time($5), updated_at_unix = $5,
               last_slot = GREATEST(last_slot, $6)
           WHERE address = $1""",
    _mirror_updated,
)


def _mirror_transferred(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["new_owner"],
        f["timestamp"],
        ev.slot,
    )


mirror_transferred = Handler(
    """UPDATE mirrors SET owner = $2, updated_at = chain_time($3), updated_at_unix = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _mirror_transferred,
)


def _mirror_frozen(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["timestamp"],
        ev.slot,
    )


mirror_frozen = Handler(
    """UPDATE mirrors SET status = 'Frozen', updated_at = chain_time($2), updated_at_unix = $2, last_slot = GREATEST(last_slot, $3)
           WHERE address = $1""",
    _mirror_frozen,
)


def _mirror_job_requested(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["job_id"] + 1,
        ev.slot,
    )


mirror_job_requested = Handler(
    "UPDATE mirrors SET job_count = GREATEST(job_count, $2), last_slot = GREATEST(last_slot, $3) WHERE address = $1",
    _mirror_job_requested,
)


def _mirror_model_completed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["mirror"],
        f["version"],
        f["timestamp"],
        ev.slot,
    )


mirror_model_completed = Handler(
    """UPDATE mirrors SET model_version = GREATEST(model_version, $2), updated_at = chain_time($3), updated_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _mirror_model_completed,
)


# --- access grants ----------------------------------------------------------------


def _access_granted(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["grant"],
        f["mirror"],
        f["grantee"],
        f["permissions"],
        f["expires_at"],
        f["granted_by"],
        f["timestamp"],
        ev.slot,
    )


# expires_at 0 means never: NULL in the timestamptz, 0 in expires_at_unix as on chain.
access_granted = Handler(
    """INSERT INTO access_grants (address, mirror, grantee, permissions, expires_at, expires_at_unix, granted_by, granted_at,
                                     updated_at, granted_at_unix, updated_at_unix, last_slot)
           VALUES ($1, $2, $3, $4, chain_time(NULLIF($5::bigint, 0)), $5, $6, chain_time($7), chain_time($7), $7, $7, $8)
           ON CONFLICT (address) DO UPDATE SET
               permissions = EXCLUDED.permissions, expires_at = EXCLUDED.expires_at, expires_at_unix = EXCLUDED.expires_at_unix,
               granted_by = EXCLUDED.granted_by,
               granted_at = CASE WHEN access_grants.revoked_at_unix IS NULL THEN access_grants.granted_at ELSE EXCLUDED.granted_at END,
               granted_at_unix = CASE WHEN access_grants.revoked_at_unix IS NULL THEN access_grants.granted_at_unix
                                      ELSE EXCLUDED.granted_at_unix END,
               updated_at = EXCLUDED.updated_at, updated_at_unix = EXCLUDED.updated_at_unix,
               revoked_at = NULL, revoked_at_unix = NULL, revoked_by = NULL,
               last_slot = GREATEST(access_grants.last_slot, EXCLUDED.last_slot)""",
    _access_granted,
)


def _access_revoked(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["grant"],
        f["timestamp"],
        f["revoked_by"],
        ev.slot,
    )


access_revoked = Handler(
    """UPDATE access_grants SET revoked_at = chain_time($2), revoked_at_unix = $2, revoked_by = $3, last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _access_revoked,
)


# --- training jobs ----------------------------------------------------------------


def _job_requested(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    p = f["params"]
    return (
        f["job"],
        f["mirror"],
        f["job_id"],
        f["requester"],
        f["dataset_cid"],
        p["epochs"],
        p["seq_len"],
        p["batch_size"],
        p["learning_rate_micros"],
        p["start_fresh"],
        f["timestamp"],
        ev.slot,
    )


job_requested = Handler(
    """INSERT INTO training_jobs (address, mirror, job_id, requester, dataset_cid, epochs, seq_len, batch_size,
                                     learning_rate_micros, start_fresh, status, requested_at, requested_at_unix, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Requested', chain_time($11), $11, $12)
           ON CONFLICT (address) DO NOTHING""",
    _job_requested,
)


def _job_started(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["job"],
        f["trainer"],
        f["timestamp"],
        ev.slot,
    )


job_started = Handler(
    """UPDATE training_jobs SET status = 'Running', trainer = $2, started_at = chain_time($3), started_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _job_started,
)


def _job_completed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    m = f["metrics"]
    return (
        f["job"],
        f["model_cid"],
        f["weights_sha256"],
        m["final_loss_micros"],
        m["tokens_trained"],
        f["timestamp"],
        ev.slot,
    )


job_completed = Handler(
    """UPDATE training_jobs SET status = 'Completed', model_cid = $2, weights_sha256 = $3, final_loss_micros = $4,
               tokens_trained = $5, finished_at = chain_time($6), finished_at_unix = $6, last_slot = GREATEST(last_slot, $7)
           WHERE address = $1""",
    _job_completed,
)


def _job_failed(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["job"],
        f["reason_code"],
        f["timestamp"],
        ev.slot,
    )


job_failed = Handler(
    """UPDATE training_jobs SET status = 'Failed', failure_code = $2, finished_at = chain_time($3), finished_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _job_failed,
)


def _job_cancelled(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    return (
        f["job"],
        f["cancelled_by"],
        f["timestamp"],
        ev.slot,
    )


job_cancelled = Handler(
    """UPDATE training_jobs SET status = 'Cancelled', cancelled_by = $2, finished_at = chain_time($3), finished_at_unix = $3,
               last_slot = GREATEST(last_slot, $4)
           WHERE address = $1""",
    _job_cancelled,
)


# --- model versions ---------------------------------------------------------------


def _model_published(ev: Event) -> tuple[Any, ...]:
    f = ev.fields
    m = f["metrics"]
    return (
        f["model"],
        f["mirror"],
        f["version"],
        f["job"],
        f["model_cid"],
        f["weights_sha256"],
        m["final_loss_micros"],
        m["tokens_trained"],
        f["timestamp"],
        ev.slot,
    )


model_published = Handler(
    """INSERT INTO model_versions (address, mirror, version, job, model_cid, weights_sha256, final_loss_micros,
                                      tokens_trained, created_at, created_at_unix, last_slot)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, chain_time($9), $9, $10)
           ON CONFLICT (address) DO NOTHING""",
    _model_published,
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
    "AdminProposed": (P("config", "config", admin_proposed),),
    "AdminChanged": (P("config", "config", admin_changed),),
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


async def rebuild_row(conn: Connection, table: str, key: str) -> int:
    """Recomputes one projection row from chain_events in chain order; returns the events replayed.

    Chain order is slot, then (within a slot, where the logs give no position) the
    creating event first, then arrival order, which is the node's order for both
    sources; only events of one row reordered within one slot could still mislead it.
    """
    handlers = _BY_TABLE[table]
    field = _KEY_FIELD[table]  # a constant of ours, inlined so the expression index applies
    await conn.execute(f"DELETE FROM {table} WHERE address = $1", key)
    rows = await conn.fetch(
        f"""SELECT id, signature, event_index, slot, name, payload, instruction_index FROM chain_events
            WHERE payload ? '{field}' AND payload->>'{field}' = $1 AND name = ANY($2::text[])
            ORDER BY slot, name = ANY($3::text[]) DESC, id, event_index""",
        key,
        list(handlers),
        _CREATING[table],
    )
    for r in rows:
        await handlers[r["name"]].handler(conn, event_from_row(r))
    return len(rows)


async def apply_events(conn: Connection, events: Sequence[Event]) -> int:
    """Applies newly stored events (chain order; their chain_events rows are written, so
    their ids are set) to the projections, with as few round trips as a batch allows.

    1. Read ``last_slot`` of every row the batch touches (one query per table).
    2. Walk the events in order: an event for an existing row at or after its
       ``last_slot`` is planned; a creating event for a missing row is planned (and
       checked for events of that row that arrived before it); an older event, or a
       non-creating one for a missing row, marks the row for a rebuild instead.
    3. Run the plan: every statement touches one row, so the n-th statement of each
       row goes in wave n, and a wave runs as one executemany per handler.
    4. Rebuild the marked rows from chain_events. Returns the number of rebuilds.
    """
    touches = [(ev, p, ev.fields[p.key_field]) for ev in events for p in PROJECTIONS.get(ev.name, ())]
    if not touches:
        return 0
    keys: dict[str, set[str]] = defaultdict(set)
    for _, p, key in touches:
        keys[p.table].add(key)
    last: dict[tuple[str, str], int | None] = {}
    for table, ks in keys.items():
        found = {
            r["address"]: r["last_slot"]
            for r in await conn.fetch(f"SELECT address, last_slot FROM {table} WHERE address = ANY($1::text[]) FOR UPDATE", list(ks))
        }
        last.update({(table, k): found.get(k) for k in ks})

    rebuild: set[tuple[str, str]] = set()
    created: dict[str, set[str]] = defaultdict(set)
    waves: list[dict[Handler, list[tuple[Any, ...]]]] = []
    wave_of: dict[tuple[str, str], int] = defaultdict(int)
    for ev, p, key in touches:
        row = (p.table, key)
        if row in rebuild:
            continue
        seen = last[row]
        if seen is None and p.creates:
            created[p.table].add(key)
        elif seen is None or ev.slot < seen:
            rebuild.add(row)
            continue
        last[row] = ev.slot if seen is None else max(seen, ev.slot)
        n = wave_of[row]
        wave_of[row] = n + 1
        if n == len(waves):
            waves.append(defaultdict(list))
        waves[n][p.handler].append(p.handler.args(ev))

    # Rows created now that already had events (which found no row then): rebuild them.
    first_id = min(ev.id for ev in events if ev.id is not None)
    for table, ks in created.items():
        field = _KEY_FIELD[table]
        for r in await conn.fetch(
            f"""SELECT DISTINCT payload->>'{field}' AS k FROM chain_events
                WHERE payload ? '{field}' AND payload->>'{field}' = ANY($1::text[]) AND id < $2 AND name = ANY($3::text[])""",
            list(ks),
            first_id,
            list(_BY_TABLE[table]),
        ):
            rebuild.add((table, r["k"]))

    for wave in waves:
        for handler, args in wave.items():
            await conn.executemany(handler.sql, args)
    for table, key in rebuild:
        await rebuild_row(conn, table, key)
    return len(rebuild)


async def apply_event(conn: Connection, ev: Event) -> None:
    """Applies one newly stored event (its chain_events row is already written)."""
    await apply_events(conn, [ev])


async def rebuild_all(conn: Connection) -> int:
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
