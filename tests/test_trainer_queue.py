"""The trainer daemon's page of candidates (``Daemon._candidates``) over a real PostgreSQL, for any
mix of jobs hypothesis draws: which jobs it offers and in what order.

- offered: this trainer's Running jobs, and Requested jobs of active mirrors, not waiting out a
  retry delay; never a frozen mirror's, another trainer's or an ended job;
- order: this trainer's Running jobs first; then requesters take turns (each one's oldest open job,
  then each one's second, ...), within a turn the requester served least recently first (never
  served: first of all); each requester's own jobs oldest first.

The end-to-end tests (tests/test_trainer_e2e.py) show the same with the daemon as a process.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solana.rpc.async_api import AsyncClient

from mirror_common.config import Settings
from mirror_common.ipfs import open_store
from mirror_common.pg import create_pool
from mirror_common.wallet import Wallet
from trainer.chain import TrainerChain
from trainer.daemon import Daemon, load_keys

REQUESTERS = ("alice", "bob", "carol")
MIRRORS = ("m0", "m1", "m2", "m3")  # m3 is frozen; names sort the same in any collation
FROZEN = "m3"
# Requested thrice: most examples then have several open jobs of several requesters to order.
STATUSES = ("Requested", "Requested", "Requested", "Running-mine", "Running-other", "Completed", "Cancelled")

job = st.fixed_dictionaries(
    {
        "requester": st.sampled_from(REQUESTERS),
        "mirror": st.sampled_from(MIRRORS),
        "status": st.sampled_from(STATUSES),
        "requested_at": st.integers(0, 4),  # seconds: many ties, as jobs of one second have
        "started_at": st.integers(0, 9),
        "waiting": st.integers(0, 4).map(lambda n: n == 0),  # put aside by the daemon for a retry (a lost claim, an outage)
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(jobs=st.lists(job, max_size=24))
def test_the_page_offers_the_right_jobs_in_turn(database: str, tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    asyncio.run(_check(database, tmp_path, jobs))


async def _check(database: str, tmp_path: Path, jobs: list[dict[str, Any]]) -> None:
    s = Settings(database_url=database, mirror_data_dir=tmp_path)
    keys = load_keys(s)
    me = str(keys.authority.pubkey())
    pool = await create_pool(database, max_size=2)
    rpc = AsyncClient("http://127.0.0.1:9")  # never called: the page is read from the database alone
    daemon = Daemon(s, pool, open_store(s), TrainerChain(Wallet(rpc), keys.authority), keys, torch.device("cpu"))
    try:
        addresses = [f"j{i:02}" for i in range(len(jobs))]
        async with pool.acquire() as conn:
            await _write(conn, jobs, addresses, me)
        for address, j in zip(addresses, jobs, strict=True):
            if j["waiting"]:
                daemon._retry_at[address] = time.monotonic() + 60
        page = await daemon._candidates()
    finally:
        await rpc.close()
        await pool.close()

    by_address = dict(zip(addresses, jobs, strict=True))
    offered = {
        a
        for a, j in by_address.items()
        if not j["waiting"] and (j["status"] == "Running-mine" or (j["status"] == "Requested" and j["mirror"] != FROZEN))
    }
    assert len(page) == len(set(page)) and set(page) == offered, (page, offered)

    def age(a: str) -> tuple[int, str, int]:
        return by_address[a]["requested_at"], by_address[a]["mirror"], int(a[1:])

    running = [a for a in page if by_address[a]["status"] == "Running-mine"]
    assert page[: len(running)] == running  # this trainer's Running jobs first
    requested = page[len(running) :]
    # A job's turn: its rank by age among its requester's offered jobs (its Running ones count too).
    turn: dict[str, int] = {}
    for r in REQUESTERS:
        own = sorted((a for a in page if by_address[a]["requester"] == r), key=age)
        turn.update({a: n for n, a in enumerate(own, 1)})
        asked = [a for a in requested if by_address[a]["requester"] == r]
        assert asked == sorted(asked, key=age), (r, asked)  # a requester's own jobs oldest first
    served = {
        r: max((j["started_at"] for j in jobs if j["requester"] == r and j["status"] not in ("Requested",)), default=None)
        for r in REQUESTERS
    }
    ranks = [(turn[a], -1 if served[by_address[a]["requester"]] is None else served[by_address[a]["requester"]]) for a in requested]
    assert ranks == sorted(ranks), list(zip(requested, ranks, strict=True))


async def _write(conn: Any, jobs: list[dict[str, Any]], addresses: list[str], me: str) -> None:
    await conn.execute("TRUNCATE training_jobs, mirrors")
    for n, mirror in enumerate(MIRRORS):
        await conn.execute(
            """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version, job_count,
                                    created_at, updated_at, created_slot, created_signature, last_slot, created_at_unix, updated_at_unix)
               VALUES ($1, 'owner', 'owner', $2, $1, 'ipfs://m', 'Public', $3, 0, 0,
                       to_timestamp(0), to_timestamp(0), 1, 'sig', 1, 0, 0)""",
            mirror,
            n,
            "Frozen" if mirror == FROZEN else "Active",
        )
    for i, (address, j) in enumerate(zip(addresses, jobs, strict=True)):
        status = j["status"].split("-")[0]
        trainer = {"Running-mine": me, "Requested": None}.get(j["status"], "another-trainer")
        started = None if status == "Requested" else j["started_at"]
        await conn.execute(
            """INSERT INTO training_jobs (address, mirror, job_id, requester, dataset_cid, epochs, seq_len, batch_size,
                   learning_rate_micros, status, trainer, requested_at, requested_at_unix, started_at_unix, last_slot)
               VALUES ($1, $2, $3, $4, 'bafy', 1, 32, 4, 3000, $5, $6, to_timestamp($7), $7, $8, 1)""",
            address,
            j["mirror"],
            i,
            j["requester"],
            status,
            trainer,
            j["requested_at"],
            started,
        )
