"""SQL for mirrors: by address (batched), the visible list with filters and keyset orders.

Every row carries ``visible`` (``sql.visible`` for the request's viewer, ``$1``), which
the Mirror type's permission classes read; lists only return visible mirrors, so no
filter or order can reveal a private mirror's name, creator or dates through a cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, fetch_count, fetch_page, visible
from mirror_common.pg import Connection

COLUMNS = (
    "m.address, m.creator, m.owner, m.mirror_id, m.name, m.metadata_uri, m.visibility, m.status, m.model_version, "
    "m.job_count, m.created_at_unix, m.updated_at_unix, m.created_slot, m.created_signature, m.last_slot"
)


def base(viewer: str) -> str:
    return f"SELECT {COLUMNS}, {visible('m', viewer)} AS visible FROM mirrors m"


ORDERS = {
    "CREATED_AT_DESC": Order(
        "CREATED_AT_DESC", ("created_at_unix", "address"), ("created_at_unix", "address"), (int, str), descending=True
    ),
    "CREATED_AT_ASC": Order("CREATED_AT_ASC", ("created_at_unix", "address"), ("created_at_unix", "address"), (int, str)),
    "NAME_ASC": Order("NAME_ASC", ("name", "address"), ("name", "address"), (str, str)),
    "UPDATED_AT_DESC": Order(
        "UPDATED_AT_DESC", ("updated_at_unix", "address"), ("updated_at_unix", "address"), (int, str), descending=True
    ),
}


@dataclass(frozen=True, slots=True)
class MirrorFilter:
    owner: str | None = None
    creator: str | None = None
    status: str | None = None
    visibility: str | None = None
    name_contains: str | None = None

    def where(self, params: Params) -> list[str]:
        cond = ["visible"]
        if self.owner is not None:
            cond.append(f"owner = {params.add(self.owner)}")
        if self.creator is not None:
            cond.append(f"creator = {params.add(self.creator)}")
        if self.status is not None:
            cond.append(f"status = {params.add(self.status)}")
        if self.visibility is not None:
            cond.append(f"visibility = {params.add(self.visibility)}")
        if self.name_contains:
            escaped = self.name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            cond.append(f"name ILIKE {params.add('%' + escaped + '%')}")
        return cond


async def by_addresses(conn: Connection, viewer: str | None, addresses: Sequence[str]) -> list[Any]:
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE address = ANY($2::text[])", viewer, list(addresses)))


async def page(conn: Connection, viewer: str | None, flt: MirrorFilter, order: Order, args: PageArgs) -> list[Any]:
    params = Params(viewer)
    return await fetch_page(conn, base("$1"), flt.where(params), params, order, args)


async def count(conn: Connection, viewer: str | None, flt: MirrorFilter) -> int:
    params = Params(viewer)
    return await fetch_count(conn, base("$1"), flt.where(params), params)
