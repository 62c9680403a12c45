"""The owner's client (trainer.client) against a real mirror-localnet and the embedded content store:
a request lands on chain with the CID of an envelope that every active trainer (and no one else)
opens to the anonymised dataset; trainers whose published key is unusable are skipped; ``follow``
shows the job to its end with the right exit code and reason; ``cancel`` cancels."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.config import REPO_ROOT
from mirror_common.ipfs import EmbeddedStore
from mirror_common.localnet import Localnet
from mirror_common.wallet import Wallet, WalletError
from tests.conftest import funded
from tests.indexer_support import MirrorLife
from trainer.client import ClientError, OwnerClient, TrainingParams
from trainer.envelope import EnvelopeError, open_sealed, recipients_of, x25519_keypair_from_solana

DATASET = (
    "Ada's notes. Write to ada@example.com or call +44 20 7946 0958.\n"
    "Card 4111 1111 1111 1111, server 192.168.1.20, born 1815, version 1.2.3.\n"
) * 3


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path / "ipfs")
    yield s
    await s.close()


async def register_trainer(wallet: Wallet, admin: Keypair, authority: Pubkey, key: bytes) -> Pubkey:
    account = codec.trainer_pda(authority)
    await wallet.send(
        "register_trainer",
        {"authority": authority, "encryption_key": key.hex()},
        {"config": codec.config_pda(), "trainer": account, "admin": admin.pubkey()},
        admin,
    )
    return account


async def deactivate_trainer(wallet: Wallet, admin: Keypair, account: Pubkey) -> None:
    await wallet.send("deactivate_trainer", {}, {"config": codec.config_pda(), "trainer": account, "admin": admin.pubkey()}, admin)


async def test_request_lands_on_chain_sealed_to_every_active_trainer(
    rpc: AsyncClient, admin: Keypair, trainer: Keypair, store: EmbeddedStore
) -> None:
    wallet = Wallet(rpc)
    owner = await funded(rpc, 5)
    mirror = await MirrorLife(rpc, trainer).create(owner, 1)
    # A second trainer with a real key, and one whose published key is a low-order point (u = 1):
    # nothing sealed to that could be kept secret, so the client must leave it out.
    second = PrivateKey.generate()
    second_authority, broken_authority = Keypair().pubkey(), Keypair().pubkey()
    second_account = await register_trainer(wallet, admin, second_authority, bytes(second.public_key))
    broken_account = await register_trainer(wallet, admin, broken_authority, bytes([1]) + bytes(31))
    try:
        client = OwnerClient(wallet, store, owner)
        params = TrainingParams(epochs=2, seq_len=64, batch_size=4, learning_rate_micros=3_000)
        done = await client.request_training(str(mirror), DATASET.encode(), params, anonymise_it=True)
    finally:
        await deactivate_trainer(wallet, admin, second_account)
        await deactivate_trainer(wallet, admin, broken_account)

    assert done.anonymised == {"EMAIL": 3, "IP": 3, "CARD": 3, "PHONE": 3}
    assert str(broken_authority) in done.skipped_trainers
    authorities = {t.authority for t in done.trainers}
    assert {str(trainer.pubkey()), str(second_authority)} <= authorities and str(broken_authority) not in authorities

    # On chain: the job at the mirror's first id, with the CID and the parameters asked for.
    job = await wallet.account(done.job, "TrainingJob")
    assert done.job == str(codec.job_pda(mirror, 0)) and done.job_id == 0
    assert job["dataset_cid"] == done.dataset_cid and job["status"] == "Requested"
    assert job["params"] == {"epochs": 2, "seq_len": 64, "batch_size": 4, "learning_rate_micros": 3_000, "start_fresh": False}
    assert (await client.job(done.job)).params["start_fresh"] is False
    assert job["requester"] == str(owner.pubkey()) and job["mirror"] == str(mirror)

    # In the store: an envelope that the dev trainer's X25519 key (the Montgomery form of its
    # ed25519 key) and the second trainer's key open to the anonymised text; a stranger cannot.
    envelope = await store.get(done.dataset_cid, max_size=1 << 20)
    assert len(envelope) == done.envelope_bytes and DATASET.encode() not in envelope
    _, dev_private = x25519_keypair_from_solana(trainer)
    plaintext = open_sealed(envelope, dev_private).decode()
    assert open_sealed(envelope, bytes(second)).decode() == plaintext and len(plaintext) == done.dataset_bytes
    assert "ada@example.com" not in plaintext and "4111 1111 1111 1111" not in plaintext and "7946" not in plaintext
    assert "192.168.1.20" not in plaintext and "born 1815, version 1.2.3" in plaintext
    assert plaintext.count("<EMAIL>") == plaintext.count("<PHONE>") == plaintext.count("<CARD>") == plaintext.count("<IP>") == 3
    assert bytes([1]) + bytes(31) not in recipients_of(envelope)
    with pytest.raises(EnvelopeError) as refused:
        open_sealed(envelope, bytes(PrivateKey.generate()))
    assert refused.value.reason == "not_a_recipient"


async def test_concurrent_requests_get_consecutive_job_ids(rpc: AsyncClient, trainer: Keypair, store: EmbeddedStore) -> None:
    """Two requests that read the same job_count: one lands, the other reads again and takes the next id."""
    owner = await funded(rpc, 5)
    mirror = await MirrorLife(rpc, trainer).create(owner, 1)
    client = OwnerClient(Wallet(rpc), store, owner)
    a, b = await asyncio.gather(
        client.request_training(str(mirror), b"first dataset", TrainingParams()),
        client.request_training(str(mirror), b"second dataset", TrainingParams()),
    )
    assert sorted([a.job_id, b.job_id]) == [0, 1]
    for done in (a, b):
        assert (await client.job(done.job)).dataset_cid == done.dataset_cid


async def test_a_grantee_with_train_may_request_and_a_stranger_may_not(rpc: AsyncClient, trainer: Keypair, store: EmbeddedStore) -> None:
    life = MirrorLife(rpc, trainer)
    owner, grantee, stranger = await funded(rpc, 2), await funded(rpc, 2), await funded(rpc, 2)
    mirror = await life.create(owner, 1)
    await life.grant(owner, mirror, grantee.pubkey(), 4)  # TRAIN
    done = await OwnerClient(Wallet(rpc), store, grantee).request_training(str(mirror), b"notes", TrainingParams())
    assert (await Wallet(rpc).account(done.job))["requester"] == str(grantee.pubkey())
    with pytest.raises(WalletError) as refused:
        await OwnerClient(Wallet(rpc), store, stranger).request_training(str(mirror), b"notes", TrainingParams())
    assert refused.value.program_error == "NotAuthorized", refused.value


async def test_bad_requests_are_refused_before_anything_is_sent(rpc: AsyncClient, trainer: Keypair, store: EmbeddedStore) -> None:
    owner = await funded(rpc, 1)
    client = OwnerClient(Wallet(rpc), store, owner, max_dataset=100)
    mirror = str(await MirrorLife(rpc, trainer).create(owner, 1))
    with pytest.raises(ClientError, match="empty"):
        await client.request_training(mirror, b"", TrainingParams())
    with pytest.raises(ClientError, match="at most 100"):
        await client.request_training(mirror, b"x" * 101, TrainingParams())
    with pytest.raises(ClientError, match="not UTF-8"):
        await client.request_training(mirror, b"\xff\xfe", TrainingParams())
    with pytest.raises(ClientError, match="epochs"):
        TrainingParams(epochs=0)
    with pytest.raises(ClientError, match="start_fresh must be True or False, not 1"):
        TrainingParams(start_fresh=1)  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="base58"):
        await client.request_training("not-an-address", b"data", TrainingParams())
    assert (await client.wallet.account(mirror, "Mirror"))["job_count"] == 0


def cli(args: list[str], localnet: Localnet, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MIRROR_RPC_URL": localnet.rpc_url, "MIRROR_DATA_DIR": str(data_dir), "IPFS_API_URL": ""}
    # The stages only: no API runs here (tests/test_training_progress.py follows with one).
    no_api = ["--api", ""] if args[0] in ("request", "follow") else []
    return subprocess.Popen(
        [sys.executable, "-m", "trainer.client", *args, "--poll", "0.1", *no_api],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def next_line(process: subprocess.Popen[str]) -> str:
    """The next line the follow display writes (stderr)."""
    assert process.stderr is not None
    return await asyncio.wait_for(asyncio.to_thread(process.stderr.readline), 60)


async def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = await asyncio.to_thread(process.communicate, timeout=60)
    return process.returncode, out, err


async def test_the_command_line(rpc: AsyncClient, localnet: Localnet, trainer: Keypair, tmp_path: Path, store: EmbeddedStore) -> None:
    owner = await funded(rpc, 5)
    life = MirrorLife(rpc, trainer)
    mirror = await life.create(owner, 1)
    keypair = tmp_path / "owner.json"
    keypair.write_text(json.dumps(list(bytes(owner))))
    dataset = tmp_path / "notes.txt"
    dataset.write_text(DATASET)
    request = ["request", "--keypair", str(keypair), "--mirror", str(mirror), "--dataset", str(dataset), "--anonymise"]

    # request --json --follow: the summary (job, CID, counts, params) first, then each state of
    # the job as the chain reaches it; exit 0 once Completed.
    follower = cli([*request, "--epochs", "3", "--seq-len", "32", "--json", "--follow"], localnet, tmp_path)
    assert follower.stdout is not None
    summary = json.loads(await asyncio.to_thread(follower.stdout.readline))
    assert summary["anonymised"]["EMAIL"] == 3 and summary["params"]["epochs"] == 3 and summary["params"]["seq_len"] == 32
    assert summary["params"]["start_fresh"] is False
    job = Pubkey.from_string(summary["job"])
    wallet = Wallet(rpc)
    assert (await wallet.account(job))["dataset_cid"] == summary["dataset_cid"]
    envelope = await store.get(summary["dataset_cid"], max_size=1 << 20)
    assert "<EMAIL>" in open_sealed(envelope, x25519_keypair_from_solana(trainer)[1]).decode()
    assert "Requested: waiting for a trainer" in await next_line(follower)
    await life.start(mirror, job)
    assert f"Running: claimed by trainer {trainer.pubkey()}" in await next_line(follower)
    await life.complete(mirror, job, 1)
    assert "Completed: model bafkrei" in await next_line(follower)
    code, out, err = await finished(follower)
    assert code == 0 and out.startswith("Completed: model "), err

    # request --fresh --follow prints the summary, then follows until the owner cancels: exit 1.
    follower = cli([*request, "--fresh", "--follow"], localnet, tmp_path)
    assert "Requested: waiting for a trainer" in await next_line(follower)
    second = codec.job_pda(mirror, 1)
    code, out, err = await finished(cli(["cancel", "--keypair", str(keypair), "--job", str(second)], localnet, tmp_path))
    assert code == 0 and f"cancelled job {second}" in out, err
    code, out, err = await finished(follower)
    assert code == 1 and out.strip().endswith("Cancelled"), (out, err)
    assert "anonymised: 3 EMAIL, 3 IP, 3 CARD, 3 PHONE" in out and f"job {second} (#1 of mirror {mirror})" in out
    assert "start fresh: the trainer will not continue" in out
    assert (await wallet.account(second))["params"]["start_fresh"] is True and (await wallet.account(job))["params"]["start_fresh"] is False

    # A job the trainer failed: exit 1 with the reason code's name. A refusal (cancelling an ended
    # job) and a missing keypair: exit 2 with the error.
    third = Pubkey.from_string((await OwnerClient(wallet, store, owner).request_training(str(mirror), b"data", TrainingParams())).job)
    await life.start(mirror, third)
    await life.fail(third, 2)
    (failed, failure, _), (refused, _, refusal), (no_key, _, missing) = await asyncio.gather(
        finished(cli(["follow", "--job", str(third)], localnet, tmp_path)),
        finished(cli(["cancel", "--keypair", str(keypair), "--job", str(second)], localnet, tmp_path)),
        finished(cli(["cancel", "--keypair", str(tmp_path / "missing.json"), "--job", str(second)], localnet, tmp_path)),
    )
    assert failed == 1 and failure.strip() == "Failed: DATASET_DECRYPT (2)", failure
    assert refused == 2 and "InvalidJobTransition" in refusal, refusal
    assert no_key == 2 and "no keypair" in missing, missing
