"""SQL for chain events, in ``chain_events.id`` order (the order the indexer committed
and published them, which subscriptions replay). An event that names a mirror is visible
only with that mirror (sql.visible); events without one (config, trainers) are public."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, fetch_count, fetch_counts_per_parent, fetch_page, fetch_pages_per_parent, visible
from mirror_common.pg import Connection

COLUMNS = "e.id, e.signature, e.event_index, e.slot, e.block_time_unix, e.name, e.payload, e.commitment, e.payload->>'mirror' AS mirror"


def base(viewer: str) -> str:
    return (
        f"SELECT {COLUMNS}, (NOT e.payload ? 'mirror' OR EXISTS (SELECT 1 FROM mirrors m "
        f"WHERE m.address = e.payload->>'mirror' AND {visible('m', viewer)})) AS visible FROM chain_events e"
    )


# For the subscription hub: every new event once, with whether anyone may see it (no mirror, or a
# Public one); the rest is checked per viewer with ``visible_ids``.
HUB = (
    f"SELECT {COLUMNS}, (NOT e.payload ? 'mirror' OR coalesce(m.visibility = 'Public', false)) AS public "
    "FROM chain_events e LEFT JOIN mirrors m ON m.address = e.payload->>'mirror'"
)
NESTED = f"SELECT {COLUMNS} FROM chain_events e WHERE e.payload ? 'mirror'"
ORDER = Order("ID_ASC", ("id",), ("id",), (int,))


@dataclass(frozen=True, slots=True)
class EventFilter:
    mirror: str | None = None
    names: tuple[str, ...] | None = None
    from_slot: int | None = None
    to_slot: int | None = None
    after_id: int | None = None

    def matches(self, row: Any) -> bool:
        """The filter in memory, for a row the hub read (visibility aside)."""
        return (
            (self.mirror is None or row["mirror"] == self.mirror)
            and (self.names is None or row["name"] in self.names)
            and (self.from_slot is None or row["slot"] >= self.from_slot)
            and (self.to_slot is None or row["slot"] <= self.to_slot)
            and (self.after_id is None or row["id"] > self.after_id)
        )

    def where(self, params: Params) -> list[str]:
        cond = ["visible"]
        if self.mirror is not None:
            cond.append(f"mirror = {params.add(self.mirror)}")
        if self.names is not None:
            cond.append(f"name = ANY({params.add(list(self.names))}::text[])")
        if self.from_slot is not None:
            cond.append(f"slot >= {params.add(self.from_slot)}")
        if self.to_slot is not None:
            cond.append(f"slot <= {params.add(self.to_slot)}")
        if self.after_id is not None:
            cond.append(f"id > {params.add(self.after_id)}")
        return cond


async def by_ids(conn: Connection, viewer: str | None, ids: Sequence[int]) -> list[Any]:
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE visible AND id = ANY($2::bigint[])", viewer, list(ids)))


async def page(conn: Connection, viewer: str | None, flt: EventFilter, args: PageArgs) -> list[Any]:
    params = Params(viewer)
    return await fetch_page(conn, base("$1"), flt.where(params), params, ORDER, args)


async def count(conn: Connection, viewer: str | None, flt: EventFilter) -> int:
    params = Params(viewer)
    return await fetch_count(conn, base("$1"), flt.where(params), params)


async def pages_per_mirror(conn: Connection, mirrors: Sequence[str], args: PageArgs) -> dict[str, list[Any]]:
    return await fetch_pages_per_parent(conn, NESTED, "mirror", mirrors, Params(), ORDER, args)


async def counts_per_mirror(conn: Connection, mirrors: Sequence[str]) -> dict[str, int]:
    return await fetch_counts_per_parent(
        conn, "SELECT payload->>'mirror' AS mirror FROM chain_events WHERE payload ? 'mirror'", "mirror", mirrors, Params()
    )


async def replay(conn: Connection, viewer: str | None, flt: EventFilter, limit: int) -> list[Any]:
    """Events past ``flt.after_id`` in id order, for a subscription catching up."""
    params = Params(viewer)
    cond = " AND ".join(flt.where(params))
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE {cond} ORDER BY id LIMIT {int(limit)}", *params.values))


async def past(conn: Connection, after_id: int, limit: int) -> list[Any]:
    """Every event past ``after_id`` in id order, for the hub (not filtered by viewer)."""
    return list(await conn.fetch(f"{HUB} WHERE e.id > $1 ORDER BY e.id LIMIT $2", after_id, limit))


async def visible_ids(conn: Connection, viewer: str | None, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` the viewer may see now."""
    rows = await conn.fetch(f"SELECT id FROM ({base('$1')}) t WHERE visible AND id = ANY($2::bigint[])", viewer, list(ids))
    return {r["id"] for r in rows}


async def last_id(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM chain_events") or 0)
