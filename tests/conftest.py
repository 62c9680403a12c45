"""Shared fixtures: a real mirror-localnet process, RPC clients, funded wallets."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from mirror_common.config import REPO_ROOT
from mirror_common.localnet import Localnet

if TYPE_CHECKING:
    from mirror_common.services import Kubo, Postgres, Redis

LAMPORTS_PER_SOL = 1_000_000_000


def dev_keypair(name: str) -> Keypair:
    path = REPO_ROOT / "keys" / "dev" / f"localnet-{name}-keypair.json"
    return Keypair.from_bytes(bytes(json.loads(path.read_text())))


@pytest.fixture(scope="session")
def localnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Localnet]:
    """One bootstrapped node for the session (fast slots, shallow finality)."""
    log = tmp_path_factory.mktemp("localnet") / "node.log"
    node = Localnet(slot_ms=100, finality_depth=2, log_path=log)
    node.start()
    yield node
    node.stop()


@pytest.fixture(scope="session")
async def rpc(localnet: Localnet) -> AsyncIterator[AsyncClient]:
    client = AsyncClient(localnet.rpc_url, commitment=Confirmed)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def admin() -> Keypair:
    return dev_keypair("admin")


@pytest.fixture(scope="session")
def trainer() -> Keypair:
    return dev_keypair("trainer")


async def funded(rpc: AsyncClient, sol: int = 10) -> Keypair:
    """A fresh wallet with `sol` SOL, airdropped and confirmed."""
    kp = Keypair()
    sig = (await rpc.request_airdrop(kp.pubkey(), sol * LAMPORTS_PER_SOL)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    return kp


@pytest.fixture
def tmp_ledger(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


# --- PostgreSQL and Redis (real servers, started for the session) -------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster (mirror_common.services) for the session."""
    from mirror_common.services import Postgres

    pg = Postgres(fsync=False)
    pg.start()
    yield pg
    pg.stop(remove=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Redis]:
    from mirror_common.services import Redis

    r = Redis()
    r.start()
    yield r
    r.stop(remove=True)


@pytest.fixture(scope="session")
def kubo() -> Iterator[Kubo]:
    """A Kubo v0.42.0 daemon (unixfs-v1-2025 profile, offline, throwaway IPFS_PATH) for the session."""
    from mirror_common.services import Kubo, kubo_binary

    if not kubo_binary().exists():
        reason = f"Kubo is not built at {kubo_binary()}: run scripts/build-kubo (scripts/setup does)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI builds it: a missing binary there is a broken setup, not a skip
        pytest.skip(reason)
    node = Kubo()
    node.start()
    yield node
    node.stop(remove=True)


@pytest.fixture
async def database(postgres: Postgres) -> AsyncIterator[str]:
    """A fresh, migrated database for one test; its URL."""
    import uuid

    import asyncpg

    from indexer.migrate import migrate

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_conn = await asyncpg.connect(postgres.url)
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres.url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    yield url
    await admin_conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin_conn.close()
