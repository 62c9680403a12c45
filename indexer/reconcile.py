"""Compares the projections with the program's accounts (getProgramAccounts) and,
with ``--repair``, makes the projections say what the chain says.

    python -m indexer.reconcile [--repair] [--json]

Each account is decoded with the IDL codec and turned into the row the indexer
should hold for it; each difference is reported as drift:
  missing  the account exists, the row does not
  differs  columns disagree (listed with both values)
  extra    a row whose account does not exist (a grant shown live whose account
           was closed, or any other row without an account)
Timestamps are compared as the chain's raw integers (``<column>_unix``), never as
Python datetimes (which end in the year 9999); each timestamptz column must equal
``chain_time()`` of its raw column, which the database checks.
Exit status: 0 no drift (or all repaired), 1 drift left, 3 the node serves another chain
than the one the database records (indexer/chain_identity.py): nothing compared or repaired.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import structlog

from indexer.decode import pg_safe
from indexer.logsetup import configure_logging
from indexer.source import Rpc
from mirror_common import codec
from mirror_common.config import settings
from mirror_common.pg import Connection, Pool, create_pool

log = structlog.get_logger("indexer.reconcile")
DEFAULT_PUBKEY = "11111111111111111111111111111111"
ZERO32 = "00" * 32


def _happened(v: int) -> int | None:
    """A job's started_at/finished_at: 0 on chain until it happens, NULL here."""
    return v or None


def _config(f: dict[str, Any]) -> dict[str, Any]:
    out = {"admin": f["admin"], "paused": f["paused"]}
    if "pending_admin" in f:
        out["pending_admin"] = None if f["pending_admin"] == DEFAULT_PUBKEY else f["pending_admin"]
    return out


def _trainer(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "authority": f["authority"],
        "encryption_key": f["encryption_key"],
        "active": f["active"],
        "registered_at_unix": f["registered_at"],
        "updated_at_unix": f["updated_at"],
    }


def _mirror(f: dict[str, Any]) -> dict[str, Any]:
    return {
        "creator": f["creator"],
        "owner": f["owner"],
        "mirror_id": f["mirror_id"],
        "name": f["name"],
        "metadata_uri": f["metadata_uri"],
        "visibility": f["visibility"],
        "status": f["status"],
        "model_version": f["model_version"],
        "job_count": f["job_count"],
        "created_at_unix": f["created_at"],
        "updated_at_unix": f["updated_at"],
    }


def _grant(f: dict[str, Any]) -> dict[str, Any]:
    out = {
        "mirror": f["mirror"],
        "grantee": f["grantee"],
        "permissions": f["permissions"],
        "expires_at_unix": f["expires_at"],
        "granted_at_unix": f["granted_at"],
        "updated_at_unix": f["updated_at"],
        "revoked_at_unix": None,
    }
    if "granted_by" in f:
        out["granted_by"] = f["granted_by"]
    return out


def _job(f: dict[str, Any]) -> dict[str, Any]:
    p, m, status = f["params"], f["metrics"], f["status"]
    done = status == "Completed"
    return {
        "mirror": f["mirror"],
        "job_id": f["job_id"],
        "requester": f["requester"],
        "dataset_cid": f["dataset_cid"],
        "epochs": p["epochs"],
        "seq_len": p["seq_len"],
        "batch_size": p["batch_size"],
        "learning_rate_micros": p["learning_rate_micros"],
        "start_fresh": p["start_fresh"],
        "status": status,
        "trainer": None if f["trainer"] == DEFAULT_PUBKEY else f["trainer"],
        "model_cid": f["model_cid"] if done else None,
        "weights_sha256": f["weights_sha256"] if done else None,
        "final_loss_micros": m["final_loss_micros"] if done else None,
        "tokens_trained": m["tokens_trained"] if done else None,
        "failure_code": f["failure_code"] if status == "Failed" else None,
        "requested_at_unix": f["requested_at"],
        "started_at_unix": _happened(f["started_at"]),
        "finished_at_unix": _happened(f["finished_at"]),
    }


def _model(f: dict[str, Any]) -> dict[str, Any]:
    m = f["metrics"]
    return {
        "mirror": f["mirror"],
        "version": f["version"],
        "job": f["job"],
        "model_cid": f["model_cid"],
        "weights_sha256": f["weights_sha256"],
        "final_loss_micros": m["final_loss_micros"],
        "tokens_trained": m["tokens_trained"],
        "created_at_unix": f["created_at"],
    }


# account type -> (table, expected row columns)
EXPECT: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "Config": ("config", _config),
    "Trainer": ("trainers", _trainer),
    "Mirror": ("mirrors", _mirror),
    "AccessGrant": ("access_grants", _grant),
    "TrainingJob": ("training_jobs", _job),
    "ModelVersion": ("model_versions", _model),
}

# Each timestamptz column is chain_time() of the raw `<column>_unix` beside it
# (sql/migrations/0004); expires_at is NULL where the raw value is 0 (never).
TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "config": ("created_at", "updated_at"),
    "trainers": ("registered_at", "updated_at"),
    "mirrors": ("created_at", "updated_at"),
    "access_grants": ("expires_at", "granted_at", "updated_at", "revoked_at"),
    "training_jobs": ("requested_at", "started_at", "finished_at"),
    "model_versions": ("created_at",),
}


def time_expression(column: str, raw: str) -> str:
    """The SQL that derives a timestamptz column from its raw seconds (``raw``: a column or a parameter)."""
    return f"chain_time(NULLIF({raw}::bigint, 0))" if column == "expires_at" else f"chain_time({raw}::bigint)"


# Columns a repair must fill when it inserts a row that has no events behind it.
_INSERT_DEFAULTS: dict[str, dict[str, Any]] = {
    "config": {"created_at_unix": 0, "updated_at_unix": 0},
    "trainers": {},
    "mirrors": {"created_slot": 0, "created_signature": ""},
    "access_grants": {"granted_by": DEFAULT_PUBKEY},
    "training_jobs": {},
    "model_versions": {},
}


@dataclass
class Drift:
    kind: str  # missing | differs | extra
    table: str
    address: str
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column -> (row, chain)


@dataclass
class Report:
    slot: int
    accounts: int
    drift: list[Drift]
    repaired: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "accounts": self.accounts,
            "drift": len(self.drift),
            "repaired": self.repaired,
            "by_kind": {k: sum(1 for d in self.drift if d.kind == k) for k in ("missing", "differs", "extra")},
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    return bool(a == b)


async def chain_accounts(rpc: Rpc, program_id: str) -> tuple[int, dict[str, tuple[str, dict[str, Any]]]]:
    """(slot, address -> (account type, fields)) of every account the program owns, at confirmed."""
    res = await rpc.call("getProgramAccounts", program_id, {"encoding": "base64", "commitment": "confirmed", "withContext": True})
    slot = res["context"]["slot"]
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for a in res["value"]:
        data = base64.b64decode(a["account"]["data"][0])
        kind = codec.account_type(data)
        if kind is None:
            log.warning("unknown_account", address=a["pubkey"])
            continue
        out[a["pubkey"]] = (kind, pg_safe(codec.decode_account(data, kind).fields))
    return slot, out


async def reconcile(pool: Pool, rpc: Rpc, program_id: str, *, repair: bool = False) -> Report:
    """Raises ChainMismatch, before reading or repairing anything, when the node serves
    another chain than the one the database records: its accounts are no measure of these rows."""
    from indexer.chain_identity import verify_chain

    async with pool.acquire() as conn:
        await verify_chain(conn, rpc, program_id, record=False)
    slot, accounts = await chain_accounts(rpc, program_id)
    expected: dict[str, dict[str, dict[str, Any]]] = {t: {} for t, _ in EXPECT.values()}
    for address, (kind, fields) in accounts.items():
        table, fn = EXPECT[kind]
        expected[table][address] = fn(fields)
    drift: list[Drift] = []
    async with pool.acquire() as conn:
        for table, rows_expected in expected.items():
            rows = {r["address"]: dict(r) for r in await conn.fetch(f"SELECT * FROM {table}")}
            # Each timestamptz column must say what its raw seconds say (the database computes it).
            time_diff: dict[str, dict[str, tuple[Any, Any]]] = {}
            for column in TIME_COLUMNS[table]:
                derived = time_expression(column, f"{column}_unix")
                for r in await conn.fetch(
                    f"""SELECT address, {column}::text AS have, {derived}::text AS want FROM {table}
                        WHERE {column} IS DISTINCT FROM {derived}"""
                ):
                    time_diff.setdefault(r["address"], {})[column] = (r["have"], r["want"])
            for address, want in rows_expected.items():
                have = rows.get(address)
                if have is None:
                    drift.append(Drift("missing", table, address, {c: (None, v) for c, v in want.items()}))
                    continue
                diff = {c: (have.get(c), v) for c, v in want.items() if c in have and not _same(have.get(c), v)}
                diff.update(time_diff.get(address, {}))
                if diff:
                    drift.append(Drift("differs", table, address, diff))
            for address, have in rows.items():
                if address in rows_expected:
                    continue
                if table == "access_grants" and have["revoked_at"] is not None:
                    continue  # closed on chain, and shown revoked here: as it should be
                drift.append(Drift("extra", table, address))
        report = Report(slot, len(accounts), drift)
        if repair and drift:
            async with conn.transaction():
                for d in drift:
                    await _repair(conn, d, expected[d.table].get(d.address), slot)
            report.repaired = len(drift)
    for d in drift:
        log.warning(
            "drift", kind=d.kind, table=d.table, address=d.address, columns={c: [str(a), str(b)] for c, (a, b) in d.columns.items()}
        )
    return report


async def _repair(conn: Connection, d: Drift, want: dict[str, Any] | None, slot: int) -> None:
    if d.kind == "extra":
        if d.table == "access_grants":
            await conn.execute(
                """UPDATE access_grants SET revoked_at = now(), revoked_at_unix = extract(epoch FROM now())::bigint,
                       last_slot = GREATEST(last_slot, $2) WHERE address = $1""",
                d.address,
                slot,
            )
        else:
            await conn.execute(f"DELETE FROM {d.table} WHERE address = $1", d.address)
        return
    assert want is not None
    cols = {**_INSERT_DEFAULTS[d.table], **want, "last_slot": slot}
    names = list(cols)
    values = [f"${i + 2}" for i in range(len(names))]
    # Every timestamptz column follows its raw column, computed by the database.
    derived = [(c, time_expression(c, values[names.index(f"{c}_unix")])) for c in TIME_COLUMNS[d.table] if f"{c}_unix" in cols]
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in [*want, *(c for c, _ in derived), "last_slot"])
    await conn.execute(
        f"""INSERT INTO {d.table} (address, {", ".join([*names, *(c for c, _ in derived)])})
            VALUES ($1, {", ".join([*values, *(e for _, e in derived)])}) ON CONFLICT (address) DO UPDATE SET {updates}""",
        d.address,
        *cols.values(),
    )


def main(argv: list[str] | None = None) -> int:
    s = settings()
    ap = argparse.ArgumentParser(prog="python -m indexer.reconcile", description="projections vs program accounts")
    ap.add_argument("--repair", action="store_true", help="make the projections match the chain")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--rpc-url", default=s.mirror_rpc_url)
    ap.add_argument("--program-id", default=s.mirror_program_id)
    ap.add_argument("--database-url", default=s.database_url)
    ap.add_argument("--json-logs", action="store_true", default=s.indexer_log_json)
    args = ap.parse_args(argv)
    configure_logging(args.json_logs)

    async def run() -> Report:
        pool = await create_pool(args.database_url)
        rpc = Rpc(args.rpc_url)
        try:
            return await reconcile(pool, rpc, args.program_id, repair=args.repair)
        finally:
            await rpc.close()
            await pool.close()

    from indexer.chain_identity import ChainMismatch, log_mismatch

    try:
        report = asyncio.run(run())
    except ChainMismatch as e:
        log_mismatch(e)
        print(f"python -m indexer.reconcile: {e}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps({**report.summary(), "items": [asdict(d) for d in report.drift]}, default=str))
    else:
        for d in report.drift:
            cols = "; ".join(f"{c}: db={a!r} chain={b!r}" for c, (a, b) in d.columns.items()) if d.kind == "differs" else ""
            print(f"{d.kind:8} {d.table:15} {d.address} {cols}")
        print(json.dumps(report.summary()))
    return 0 if not report.drift or args.repair else 1


if __name__ == "__main__":
    sys.exit(main())
