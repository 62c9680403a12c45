"""SQL for training jobs: visible only with their mirror (sql.visible), by address, per
mirror in one statement, and the filtered list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphql_api.pagination import Order, PageArgs
from graphql_api.store.sql import Params, fetch_count, fetch_counts_per_parent, fetch_page, fetch_pages_per_parent, visible
from mirror_common.pg import Connection

COLUMNS = (
    "j.address, j.mirror, j.job_id, j.requester, j.dataset_cid, j.epochs, j.seq_len, j.batch_size, j.learning_rate_micros, "
    "j.start_fresh, j.status, j.trainer, j.model_cid, j.weights_sha256, j.final_loss_micros, j.tokens_trained, j.failure_code, "
    "j.cancelled_by, j.requested_at_unix, j.started_at_unix, j.finished_at_unix, j.last_slot"
)


def base(viewer: str) -> str:
    return f"SELECT {COLUMNS}, {visible('m', viewer)} AS visible FROM training_jobs j JOIN mirrors m ON m.address = j.mirror"


NESTED = f"SELECT {COLUMNS} FROM training_jobs j"
ORDER = Order("REQUESTED_AT_DESC", ("requested_at_unix", "address"), ("requested_at_unix", "address"), (int, str), descending=True)


@dataclass(frozen=True, slots=True)
class JobFilter:
    mirror: str | None = None
    status: str | None = None
    requester: str | None = None
    trainer: str | None = None

    def where(self, params: Params) -> list[str]:
        cond = ["visible"]
        for column, value in (("mirror", self.mirror), ("status", self.status), ("requester", self.requester), ("trainer", self.trainer)):
            if value is not None:
                cond.append(f"{column} = {params.add(value)}")
        return cond


async def by_addresses(conn: Connection, viewer: str | None, addresses: Sequence[str]) -> list[Any]:
    return list(await conn.fetch(f"SELECT * FROM ({base('$1')}) t WHERE visible AND address = ANY($2::text[])", viewer, list(addresses)))


async def page(conn: Connection, viewer: str | None, flt: JobFilter, args: PageArgs) -> list[Any]:
    params = Params(viewer)
    return await fetch_page(conn, base("$1"), flt.where(params), params, ORDER, args)


async def count(conn: Connection, viewer: str | None, flt: JobFilter) -> int:
    params = Params(viewer)
    return await fetch_count(conn, base("$1"), flt.where(params), params)


async def pages_per_mirror(conn: Connection, mirrors: Sequence[str], args: PageArgs) -> dict[str, list[Any]]:
    """Jobs of mirrors the caller has checked the viewer may see in full."""
    return await fetch_pages_per_parent(conn, NESTED, "mirror", mirrors, Params(), ORDER, args)


async def counts_per_mirror(conn: Connection, mirrors: Sequence[str]) -> dict[str, int]:
    return await fetch_counts_per_parent(conn, "SELECT mirror FROM training_jobs", "mirror", mirrors, Params())
