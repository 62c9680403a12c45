"""SQL for ``ask``: whether a viewer may ask a mirror's model. The model version itself is read by
``trainer.serving.latest_model``, which the CLI shares."""

from __future__ import annotations

from graphql_api.store.sql import infer_allowed
from mirror_common.pg import Connection


async def may_infer(conn: Connection, mirror: str, viewer: str | None) -> bool | None:
    """None when there is no such mirror; else whether ``viewer`` (None: anonymous) may ask it."""
    allowed = await conn.fetchval(f"SELECT {infer_allowed('m', '$2')} FROM mirrors m WHERE m.address = $1", mirror, viewer)
    return None if allowed is None else bool(allowed)
