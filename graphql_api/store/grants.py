"""SQL for access grants: ``effective`` computed in SQL (sql.effective), per mirror in one
statement, and the list a viewer may see: grants of mirrors it may see in full, and the
grants addressed to it (a wallet always sees what it was given, revoked or not)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, effective, fetch_count, fetch_counts_per_parent, fetch_page, fetch_pages_per_parent, visible
from mirror_common.pg import Connection

COLUMNS = (
    "g.address, g.mirror, g.grantee, g.permissions, g.expires_at_unix, g.granted_by, g.granted_at_unix, g.updated_at_unix, "
    "g.revoked_at_unix, g.revoked_by, g.last_slot"
)


def base(viewer: str) -> str:
    return (
        f"SELECT {COLUMNS}, {effective('g', 'm.owner')} AS effective, "
        f"({visible('m', viewer)} OR coalesce(g.grantee = {viewer}, false)) AS visible "
        "FROM access_grants g JOIN mirrors m ON m.address = g.mirror"
    )


ORDER = Order("GRANTED_AT_DESC", ("granted_at_unix", "address"), ("granted_at_unix", "address"), (int, str), descending=True)


@dataclass(frozen=True, slots=True)
class GrantFilter:
    mirror: str | None = None
    grantee: str | None = None
    effective: bool | None = None

    def where(self, params: Params) -> list[str]:
        cond = ["visible"]
        if self.mirror is not None:
            cond.append(f"mirror = {params.add(self.mirror)}")
        if self.grantee is not None:
            cond.append(f"grantee = {params.add(self.grantee)}")
        if self.effective is not None:
            cond.append(f"effective = {params.add(self.effective)}")
        return cond


async def by_addresses(conn: Connection, viewer: str | None, addresses: Sequence[str]) -> list[Any]:
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE visible AND address = ANY($2::text[])", viewer, list(addresses)))


async def page(conn: Connection, viewer: str | None, flt: GrantFilter, args: PageArgs) -> list[Any]:
    params = Params(viewer)
    return await fetch_page(conn, base("$1"), flt.where(params), params, ORDER, args)


async def count(conn: Connection, viewer: str | None, flt: GrantFilter) -> int:
    params = Params(viewer)
    return await fetch_count(conn, base("$1"), flt.where(params), params)


async def pages_per_mirror(conn: Connection, viewer: str | None, mirrors: Sequence[str], args: PageArgs) -> dict[str, list[Any]]:
    """Grants of mirrors the caller has checked the viewer may see in full."""
    return await fetch_pages_per_parent(conn, base("$1"), "mirror", mirrors, Params(viewer), ORDER, args)


async def counts_per_mirror(conn: Connection, mirrors: Sequence[str]) -> dict[str, int]:
    return await fetch_counts_per_parent(conn, "SELECT mirror FROM access_grants", "mirror", mirrors, Params())
