"""The PostgreSQL pool every service uses, and the connection type code is written against.

- ``create_pool``: asyncpg with jsonb as Python values, ``min_size=0`` so that no
  background reconnect attempts (and tracebacks) run while the database is down;
  callers wait for it through ``mirror_common.retry`` and ``pg_errors.is_connection_error``.
- ``Connection``: what a handler receives, a plain connection or one lent by a pool
  (asyncpg's types tell the two apart; the code does not need to).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
else:
    Connection = asyncpg.Connection
    Pool = asyncpg.Pool


async def init_connection(conn: Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, max_size: int = 4, **options: Any) -> Pool:
    return await asyncpg.create_pool(dsn, init=init_connection, min_size=0, max_size=max_size, **options)
