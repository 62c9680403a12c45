"""Applies sql/migrations/*.sql in order, each in its own transaction, and records
them in schema_migrations (name + sha256). Safe to run twice (applied ones are
skipped) and concurrently (an advisory lock serialises runners); refuses to run
when an applied migration's file has changed since.

    python -m indexer.migrate [--database-url URL] [--status]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from mirror_common.config import REPO_ROOT, settings

MIGRATIONS_DIR = REPO_ROOT / "sql" / "migrations"
_LOCK_KEY = 0x4D495252  # "MIRR"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    files = sorted(p for p in directory.glob("*.sql"))
    names = [p.name for p in files]
    for n in names:
        if not n[:4].isdigit() or n[4] != "_":
            raise MigrationError(f"migration {n} must be named NNNN_description.sql")
    if len({n[:4] for n in names}) != len(names):
        raise MigrationError("two migrations share a number")
    return [Migration(p.name, p.read_text()) for p in files]


async def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Applies pending migrations; returns the names applied now."""
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name       text PRIMARY KEY,
                       sha256     text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied = {r["name"]: r["sha256"] for r in await conn.fetch("SELECT name, sha256 FROM schema_migrations")}
            known = {m.name for m in migrations}
            for name in applied:
                if name not in known:
                    raise MigrationError(f"applied migration {name} is missing from {directory}")
            for m in migrations:
                if m.name in applied and applied[m.name] != m.sha256:
                    raise MigrationError(
                        f"migration {m.name} was modified after it was applied "
                        f"(recorded sha256 {applied[m.name][:12]}…, file {m.sha256[:12]}…): add a new migration instead"
                    )
            done: list[str] = []
            for m in migrations:
                if m.name in applied:
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute("INSERT INTO schema_migrations (name, sha256) VALUES ($1, $2)", m.name, m.sha256)
                done.append(m.name)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()


async def status(dsn: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT name, applied_at::text FROM schema_migrations ORDER BY name")
        return [(r["name"], r["applied_at"]) for r in rows]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m indexer.migrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=None, help="default: DATABASE_URL")
    ap.add_argument("--status", action="store_true", help="list applied migrations and exit")
    args = ap.parse_args(argv)
    dsn = args.database_url or settings().database_url
    try:
        if args.status:
            for name, at in asyncio.run(status(dsn)):
                print(f"{name}\t{at}")
            return 0
        done = asyncio.run(migrate(dsn))
    except MigrationError as e:
        print(f"migrate: {e}", file=sys.stderr)
        return 2
    print("\n".join(f"applied {n}" for n in done) if done else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
