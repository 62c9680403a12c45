"""SQL for model versions: visible only with their mirror, by address, by the job that
produced them, per mirror (newest version first) and each mirror's latest, batched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, fetch_count, fetch_counts_per_parent, fetch_page, fetch_pages_per_parent, visible
from mirror_common.pg import Connection

COLUMNS = (
    "v.address, v.mirror, v.version, v.job, v.model_cid, v.weights_sha256, v.final_loss_micros, v.tokens_trained, "
    "v.created_at_unix, v.last_slot"
)


def base(viewer: str) -> str:
    return f"SELECT {COLUMNS}, {visible('m', viewer)} AS visible FROM model_versions v JOIN mirrors m ON m.address = v.mirror"


NESTED = f"SELECT {COLUMNS} FROM model_versions v"
ORDER = Order("CREATED_AT_DESC", ("created_at_unix", "address"), ("created_at_unix", "address"), (int, str), descending=True)
VERSION_ORDER = Order("VERSION_DESC", ("version", "address"), ("version", "address"), (int, str), descending=True)


@dataclass(frozen=True, slots=True)
class ModelFilter:
    mirror: str | None = None

    def where(self, params: Params) -> list[str]:
        return ["visible"] + ([f"mirror = {params.add(self.mirror)}"] if self.mirror is not None else [])


async def by_addresses(conn: Connection, viewer: str | None, addresses: Sequence[str]) -> list[Any]:
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE visible AND address = ANY($2::text[])", viewer, list(addresses)))


async def by_jobs(conn: Connection, jobs: Sequence[str]) -> list[Any]:
    """Models of jobs the caller has checked the viewer may see."""
    return list(await conn.fetch(f"{NESTED} WHERE v.job = ANY($1::text[])", list(jobs)))


async def latest(conn: Connection, mirrors: Sequence[str]) -> list[Any]:
    return list(
        await conn.fetch(
            f"SELECT DISTINCT ON (v.mirror) {COLUMNS} FROM model_versions v "
            "WHERE v.mirror = ANY($1::text[]) ORDER BY v.mirror, v.version DESC",
            list(mirrors),
        )
    )


async def page(conn: Connection, viewer: str | None, flt: ModelFilter, args: PageArgs) -> list[Any]:
    params = Params(viewer)
    return await fetch_page(conn, base("$1"), flt.where(params), params, ORDER, args)


async def count(conn: Connection, viewer: str | None, flt: ModelFilter) -> int:
    params = Params(viewer)
    return await fetch_count(conn, base("$1"), flt.where(params), params)


async def pages_per_mirror(conn: Connection, mirrors: Sequence[str], args: PageArgs) -> dict[str, list[Any]]:
    return await fetch_pages_per_parent(conn, NESTED, "mirror", mirrors, Params(), VERSION_ORDER, args)


async def counts_per_mirror(conn: Connection, mirrors: Sequence[str]) -> dict[str, int]:
    return await fetch_counts_per_parent(conn, "SELECT mirror FROM model_versions", "mirror", mirrors, Params())
