"""SQL for the API's own tables (sql/migrations/0007_api_audit.sql): the append-only audit
log and TOTP enrolments. The only rows the API writes; it never writes a read model."""

from __future__ import annotations

import json
from typing import Any

from mirror_common.pg import Connection


async def audit(
    conn: Connection,
    action: str,
    *,
    code: str | None = None,
    wallet: str | None = None,
    ip: str | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO api_audit (action, code, wallet, ip, request_id, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        action,
        code,
        wallet,
        ip,
        request_id,
        json.loads(json.dumps(detail or {}, default=str)),
    )


async def totp(conn: Connection, wallet: str) -> Any:
    return await conn.fetchrow("SELECT sealed_secret, confirmed_at FROM api_totp WHERE wallet = $1", wallet)


async def totp_start(conn: Connection, wallet: str, sealed: bytes) -> bool:
    """Starts (or restarts) an enrolment; False when a confirmed one exists (it is not replaced)."""
    row = await conn.fetchrow(
        """INSERT INTO api_totp (wallet, sealed_secret) VALUES ($1, $2)
           ON CONFLICT (wallet) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, created_at = now()
           WHERE api_totp.confirmed_at IS NULL RETURNING wallet""",
        wallet,
        sealed,
    )
    return row is not None


async def totp_confirm(conn: Connection, wallet: str) -> None:
    await conn.execute("UPDATE api_totp SET confirmed_at = now() WHERE wallet = $1 AND confirmed_at IS NULL", wallet)
