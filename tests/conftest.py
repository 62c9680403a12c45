"""Shared fixtures: a real mirror-localnet process, RPC clients, funded wallets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair

from mirror_common.config import REPO_ROOT
from mirror_common.localnet import Localnet

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
