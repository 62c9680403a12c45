"""Relay connections with opaque keyset cursors: never OFFSET.

A list is ordered by an ``Order``: SQL expressions that all sort the same way and end
with a unique column (the address or event id), so the order is total. A cursor is the
order's name and the row's values of those expressions, as base64url JSON. The next
page is ``WHERE (keys) > (cursor) ORDER BY keys LIMIT n + 1`` (a row comparison that an
index on the keys answers), whatever the table's size; ``last``/``before`` run the same
query in reverse and flip the rows back. A cursor is checked before it reaches SQL:
its order must be the list's and each value the expected type, else a GraphQL error.

Page sizes: ``first``/``last`` default to 20, at most 100; both at once is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

import strawberry

from graphql_api.errors import ClientError
from graphql_api.fields import field

DEFAULT_PAGE = 20
MAX_PAGE = 100

T = TypeVar("T")


class PaginationError(ClientError, ValueError):
    """A bad page request: shown to the client as it is."""


@dataclass(frozen=True, slots=True)
class Order:
    name: str
    columns: tuple[str, ...]  # SQL expressions, the last one unique
    keys: tuple[str, ...]  # the record fields holding their values
    types: tuple[type, ...]  # what each value must be in a cursor
    descending: bool = False

    def cursor(self, row: Any) -> str:
        values = [row[k] for k in self.keys]
        raw = json.dumps([self.name, values], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> list[Any]:
        try:
            if len(cursor) > 1000:
                raise ValueError("too long")
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            name, values = json.loads(raw)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as e:
            raise PaginationError("invalid cursor") from e
        if name != self.name:
            raise PaginationError(f"cursor belongs to another order ({str(name)[:40]!r}), not {self.name}")
        if not isinstance(values, list) or len(values) != len(self.types):
            raise PaginationError("invalid cursor")
        for value, kind in zip(values, self.types, strict=True):
            if isinstance(value, bool) or not isinstance(value, kind) or (isinstance(value, str) and "\x00" in value):
                raise PaginationError("invalid cursor")
            if kind is int and isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise PaginationError("invalid cursor")
        return values


class PageArgs(NamedTuple):
    """Validated first/after/last/before; hashable, so DataLoaders can group by it (a tuple's hash, in C:
    a page of 100 mirrors hashes it a few thousand times)."""

    size: int
    cursor: str | None
    backward: bool

    @staticmethod
    def of(first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None) -> PageArgs:
        if first is not None and last is not None:
            raise PaginationError("pass first or last, not both")
        if after is not None and before is not None:
            raise PaginationError("pass after or before, not both")
        backward = last is not None or (before is not None and first is None)
        size = last if backward else first
        if size is None:
            size = DEFAULT_PAGE
        if not 0 <= size <= MAX_PAGE:
            raise PaginationError(f"page size must be between 0 and {MAX_PAGE}, got {size}")
        return PageArgs(size, before if backward else after, backward)


@dataclass(frozen=True, slots=True)
class Keyset:
    """The SQL pieces of one page: a condition (or TRUE), an ORDER BY and a LIMIT; values are bound through ``add``."""

    where: str
    order_by: str
    limit: int


def keyset(order: Order, page: PageArgs, add: Callable[[Any], str]) -> Keyset:
    """``add``: binds a value and returns its ``$n`` placeholder (``store.sql.Params.add``)."""
    reverse = order.descending != page.backward
    direction = "DESC" if reverse else "ASC"
    order_by = ", ".join(f"{c} {direction}" for c in order.columns)
    if page.cursor is None:
        return Keyset("TRUE", order_by, page.size + 1)
    values = order.decode(page.cursor)
    placeholders = ", ".join(add(v) for v in values)
    op = "<" if reverse else ">"
    return Keyset(f"({', '.join(order.columns)}) {op} ({placeholders})", order_by, page.size + 1)


# Cursors are encoded when a client selects them, not for every edge of every page.


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    first_row: strawberry.Private[Any]
    last_row: strawberry.Private[Any]
    order: strawberry.Private[Order]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return None if self.first_row is None else self.order.cursor(self.first_row)

    @strawberry.field
    def end_cursor(self) -> str | None:
        return None if self.last_row is None else self.order.cursor(self.last_row)


@strawberry.type
class Edge(Generic[T]):
    row: strawberry.Private[Any]
    order: strawberry.Private[Order]

    @strawberry.field
    def cursor(self) -> str:
        return self.order.cursor(self.row)

    node: T


@strawberry.type(description="A page of a list, in a stable order, with the number of all its items.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @field(description="How many items the whole list holds (under the same filter).")
    async def total_count(self) -> int:
        return await self.count()


def connection(
    rows: Sequence[Any], page: PageArgs, order: Order, node: Callable[[Any], T], count: Callable[[], Awaitable[int]]
) -> Connection[T]:
    """Rows as fetched with ``keyset`` (``size + 1`` of them at most)."""
    more = len(rows) > page.size
    rows = list(rows[: page.size])
    if page.backward:
        rows.reverse()
    edges = [Edge(row=r, order=order, node=node(r)) for r in rows]
    info = PageInfo(
        has_next_page=more if not page.backward else page.cursor is not None,
        has_previous_page=more if page.backward else page.cursor is not None,
        first_row=rows[0] if rows else None,
        last_row=rows[-1] if rows else None,
        order=order,
    )
    return Connection(edges=edges, page_info=info, count=count)
