"""SQL for what is not a mirror: trainers, the program's Config, the indexer's cursors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, fetch_count, fetch_page
from mirror_common.pg import Connection

TRAINERS = "SELECT t.address, t.authority, t.encryption_key, t.active, t.registered_at_unix, t.updated_at_unix, t.last_slot FROM trainers t"
TRAINER_ORDER = Order("REGISTERED_AT_ASC", ("registered_at_unix", "address"), ("registered_at_unix", "address"), (int, str))
CONFIG = "SELECT address, admin, paused, pending_admin, created_at_unix, updated_at_unix, last_slot FROM config"


async def trainers_by_addresses(conn: Connection, addresses: Sequence[str]) -> list[Any]:
    return list(await conn.fetch(f"{TRAINERS} WHERE t.address = ANY($1::text[]) OR t.authority = ANY($1::text[])", list(addresses)))


async def trainers_page(conn: Connection, active: bool | None, args: PageArgs) -> list[Any]:
    params = Params()
    where = [] if active is None else [f"active = {params.add(active)}"]
    return await fetch_page(conn, TRAINERS, where, params, TRAINER_ORDER, args)


async def trainers_count(conn: Connection, active: bool | None) -> int:
    params = Params()
    where = [] if active is None else [f"active = {params.add(active)}"]
    return await fetch_count(conn, TRAINERS, where, params)


async def configs(conn: Connection, addresses: Sequence[str] | None = None) -> list[Any]:
    if addresses is None:
        return list(await conn.fetch(f"{CONFIG} ORDER BY address"))
    return list(await conn.fetch(f"{CONFIG} WHERE address = ANY($1::text[])", list(addresses)))


async def cursors(conn: Connection, program_id: str) -> dict[str, int]:
    """Slot of the indexer's cursor per commitment (0 when it has none yet)."""
    rows = await conn.fetch("SELECT commitment, slot FROM indexer_cursor WHERE program_id = $1", program_id)
    out = {"confirmed": 0, "finalized": 0}
    out.update({r["commitment"]: int(r["slot"]) for r in rows})
    return out
