"""Shared SQL: bound parameters, the visibility rule, keyset pages (one list or one page
per parent in a single statement) and counts.

Visibility (DESIGN.md §6): a mirror is visible in full to everyone when Public; when
Private, only to its owner and to a wallet holding an *effective* VIEW grant: not
revoked, not expired (``expires_at_unix`` 0 means never; the chain's rule is
``now >= expires_at`` expires, compared on the raw i64 seconds), and made by the current
owner (``granted_by = owner``: a sale does not carry the seller's grants).
Asking a mirror's model (``infer_allowed``) follows the same rule with the INFER bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql_api.pagination import Order, PageArgs, keyset
from mirror_common.pg import Connection

VIEW = 1
INFER = 2  # PERM_INFER: ask the mirror's model (``infer_allowed``)

NOW_UNIX = "extract(epoch FROM statement_timestamp())::bigint"


def effective(grant: str, owner: str) -> str:
    """SQL: grant row alias ``grant`` counts now for a mirror whose owner is ``owner``."""
    return (
        f"({grant}.revoked_at_unix IS NULL AND {grant}.granted_by = {owner} "
        f"AND ({grant}.expires_at_unix = 0 OR {grant}.expires_at_unix > {NOW_UNIX}))"
    )


def visible(mirror: str, viewer: str) -> str:
    """SQL boolean: mirror row alias ``mirror`` may be shown in full to ``viewer`` (a placeholder; NULL = anonymous)."""
    return _allowed(mirror, viewer, VIEW, "vg")


def infer_allowed(mirror: str, viewer: str) -> str:
    """SQL boolean: ``viewer`` may ask mirror row ``mirror``'s model: the VIEW rule with the INFER bit
    (Public, owner, or an effective grant holding INFER; a VIEW-only grant is not enough)."""
    return _allowed(mirror, viewer, INFER, "ig")


def _allowed(mirror: str, viewer: str, bit: int, alias: str) -> str:
    return (
        f"({mirror}.visibility = 'Public' OR coalesce({mirror}.owner = {viewer}, false) OR EXISTS ("
        f"SELECT 1 FROM access_grants {alias} WHERE {alias}.mirror = {mirror}.address AND {alias}.grantee = {viewer} "
        f"AND {alias}.permissions & {bit} <> 0 AND {effective(alias, mirror + '.owner')}))"
    )


class Params:
    """Values bound to ``$n`` placeholders, in order."""

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


async def fetch_page(conn: Connection, base: str, where: Sequence[str], params: Params, order: Order, page: PageArgs) -> list[Any]:
    """One page of ``base`` (a SELECT whose output has the order's columns)."""
    ks = keyset(order, page, params.add)
    cond = " AND ".join([*where, ks.where]) or "TRUE"
    sql = f"SELECT * FROM ({base}) t WHERE {cond} ORDER BY {ks.order_by} LIMIT {ks.limit}"
    return list(await conn.fetch(sql, *params.values))


async def fetch_count(conn: Connection, base: str, where: Sequence[str], params: Params) -> int:
    cond = " AND ".join(where) or "TRUE"
    value = await conn.fetchval(f"SELECT count(*) FROM ({base}) t WHERE {cond}", *params.values)
    return int(value or 0)


async def fetch_pages_per_parent(
    conn: Connection, base: str, parent: str, parents: Sequence[str], params: Params, order: Order, page: PageArgs
) -> dict[str, list[Any]]:
    """The same page of ``base`` for many parents (rows whose column ``parent`` is one of
    ``parents``) in one statement: a window numbers each parent's rows in page order."""
    parents_param = params.add(list(parents))
    ks = keyset(order, page, params.add)
    sql = (
        f"SELECT * FROM (SELECT t.*, row_number() OVER (PARTITION BY t.{parent} ORDER BY {ks.order_by}) AS page_row "
        f"FROM ({base}) t WHERE t.{parent} = ANY({parents_param}::text[]) AND {ks.where}) p "
        f"WHERE page_row <= {ks.limit} ORDER BY {parent}, page_row"
    )
    out: dict[str, list[Any]] = {p: [] for p in parents}
    for row in await conn.fetch(sql, *params.values):
        out[row[parent]].append(row)
    return out


async def fetch_counts_per_parent(conn: Connection, base: str, parent: str, parents: Sequence[str], params: Params) -> dict[str, int]:
    parents_param = params.add(list(parents))
    rows = await conn.fetch(
        f"SELECT t.{parent} AS parent, count(*) AS n FROM ({base}) t WHERE t.{parent} = ANY({parents_param}::text[]) GROUP BY 1",
        *params.values,
    )
    counts = {r["parent"]: int(r["n"]) for r in rows}
    return {p: counts.get(p, 0) for p in parents}
