"""The owner's client (trainer.client) against a real mirror-localnet and the embedded content store:
a request lands on chain with the CID of an envelope that every active trainer (and no one else)
opens to the anonymised dataset; trainers whose published key is unusable are skipped; ``follow``
shows the job to its end with the right exit code and reason; ``cancel`` cancels."""

from __future__ import annotations

import asyncio
import json
import os
import re
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
from tests.indexer_support import MirrorLife, eventually
from trainer.client import ClientError, DatasetRefused, OwnerClient, TrainingParams, parser
from trainer.dataset import DatasetError, validate_dataset
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


def stored(store: EmbeddedStore) -> set[Path]:
    """Every file the embedded store holds (its blocks)."""
    return {p for p in store.root.rglob("*") if p.is_file()}


async def test_a_grantee_with_train_may_request_and_others_are_refused_before_anything_is_stored(
    rpc: AsyncClient, trainer: Keypair, store: EmbeddedStore
) -> None:
    """The program's rule (owner, or an unexpired grant from the current owner holding TRAIN) is
    checked before the envelope is stored: a refused requester leaves nothing in the store."""
    life = MirrorLife(rpc, trainer)
    owner, grantee, viewer, stranger, lapsed = [await funded(rpc, 2) for _ in range(5)]
    mirror = await life.create(owner, 1)
    await life.grant(owner, mirror, grantee.pubkey(), 4)  # TRAIN
    await life.grant(owner, mirror, viewer.pubkey(), 1 | 2 | 8)  # everything but TRAIN
    done = await OwnerClient(Wallet(rpc), store, grantee).request_training(str(mirror), b"notes", TrainingParams())
    assert (await Wallet(rpc).account(done.job))["requester"] == str(grantee.pubkey())

    client = OwnerClient(Wallet(rpc), store, lapsed)
    expires_at = await client.wallet.chain_time() + 2
    await life.grant(owner, mirror, lapsed.pubkey(), 4, expires_at=expires_at)

    async def lapsed_on_chain() -> bool:
        return await client.wallet.chain_time() >= expires_at

    await eventually(lapsed_on_chain, what="the grant's expiry on the chain's clock")

    before = stored(store)
    for who, refusal in [(stranger, "holds no grant"), (viewer, "does not include TRAIN"), (lapsed, "expired")]:
        with pytest.raises(ClientError, match=refusal):
            await OwnerClient(Wallet(rpc), store, who).request_training(str(mirror), b"notes", TrainingParams())
        assert stored(store) == before, who
    assert (await Wallet(rpc).account(mirror, "Mirror"))["job_count"] == 1


@pytest.mark.parametrize(
    "data",
    [b"", b"x", b"x" * 101, b"\xff\xfe", b"ok \xe6\x97", b"\0" * 200, b"text\0more", b"\x01" * 200, b"\x01\x02\x03" + b"a" * 90],
)
def test_the_client_refuses_what_the_trainer_refuses_with_its_reason(data: bytes, tmp_path: Path) -> None:
    """The client runs trainer.dataset.validate_dataset, the daemon's own check, on what it would seal."""
    client = OwnerClient(Wallet(AsyncClient("http://127.0.0.1:9")), EmbeddedStore(tmp_path), None, max_dataset=100)
    with pytest.raises(DatasetError) as trainer_says:
        validate_dataset(data, max_size=100)
    for anonymise_it in (False, True):
        with pytest.raises(DatasetRefused) as client_says:
            client.prepare(data, anonymise_it=anonymise_it)
        assert client_says.value.reason == trainer_says.value.reason, anonymise_it


def test_the_client_does_not_import_torch() -> None:
    """It runs on an owner's laptop; the dataset check it shares with the trainer must not drag torch in."""
    probe = "import sys, trainer.client; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=False).returncode == 0


async def test_bad_requests_are_refused_before_anything_is_sent(rpc: AsyncClient, trainer: Keypair, store: EmbeddedStore) -> None:
    """Each refusal leaves the store as it was and sends nothing."""
    owner = await funded(rpc, 1)
    client = OwnerClient(Wallet(rpc), store, owner, max_dataset=100)
    life = MirrorLife(rpc, trainer)
    mirror = str(await life.create(owner, 1))
    frozen = await life.create(owner, 2)
    await client.wallet.send("freeze_mirror", {}, {"mirror": frozen, "owner": owner.pubkey()}, owner)
    before = stored(store)
    refused = [
        (mirror, b"", "(empty)"),
        (mirror, b"x" * 101, "(too_large)"),
        (mirror, b"x", "(too_short)"),
        (mirror, b"\xff\xfe", "(not_utf8)"),
        (mirror, b"\0" * 50, "(not_text)"),
        (mirror, b"\x01" * 50, "(not_text)"),
        ("not-an-address", b"data", "base58"),
        (str(Keypair().pubkey()), b"data", "no mirror at"),
        (str(codec.config_pda()), b"data", "not a Mirror"),
        (str(frozen), b"data", "is Frozen"),
    ]
    for address, data, refusal in refused:
        for anonymise_it in (False, True):
            with pytest.raises((ClientError, WalletError), match=re.escape(refusal)):
                await client.request_training(address, data, TrainingParams(), anonymise_it=anonymise_it)
            assert stored(store) == before, (address, data)
    with pytest.raises(ClientError, match="signing wallet"):
        await OwnerClient(Wallet(rpc), store, None).request_training(mirror, b"data", TrainingParams())
    with pytest.raises(ClientError, match="params must be TrainingParams"):
        await client.request_training(mirror, b"data", {"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(ClientError, match="epochs"):
        TrainingParams(epochs=0)
    with pytest.raises(ClientError, match="start_fresh must be True or False, not 1"):
        TrainingParams(start_fresh=1)  # type: ignore[arg-type]
    assert stored(store) == before
    assert (await client.wallet.account(mirror, "Mirror"))["job_count"] == 0


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (["follow", "--job", "x", "--poll", "nan"], "--poll: 'nan'"),
        (["follow", "--job", "x", "--poll", "inf"], "--poll: 'inf'"),
        (["follow", "--job", "x", "--poll", "-1"], "--poll: '-1'"),
        (["follow", "--job", "x", "--poll", "0"], "--poll: '0'"),
        (["follow", "--job", "x", "--poll", "3600.5"], "--poll: '3600.5'"),
        (["follow", "--job", "x", "--poll", "soon"], "not a number"),
        (["request", "--mirror", "m", "--dataset", "d", "--epochs", "0"], "--epochs: '0'"),
        (["request", "--mirror", "m", "--dataset", "d", "--epochs", "1001"], "--epochs: '1001'"),
        (["request", "--mirror", "m", "--dataset", "d", "--seq-len", "8193"], "--seq-len: '8193'"),
        (["request", "--mirror", "m", "--dataset", "d", "--batch-size", "-4"], "--batch-size: '-4'"),
        (["request", "--mirror", "m", "--dataset", "d", "--lr-micros", "4294967296"], "--lr-micros: '4294967296'"),
        (["request", "--mirror", "m", "--dataset", "d", "--epochs", "1e3"], "not an integer"),
    ],
)
def test_numeric_options_out_of_range_are_usage_errors(args: list[str], refusal: str, capsys: pytest.CaptureFixture[str]) -> None:
    """nan or inf seconds would sleep forever, 0 or less would read the node in a tight loop."""
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(args)
    assert exited.value.code == 2 and refusal in capsys.readouterr().err


def test_numeric_options_at_their_bounds_are_accepted() -> None:
    args = parser().parse_args(
        ["request", "--mirror", "m", "--dataset", "d", "--poll", "0.1", "--epochs", "1000", "--lr-micros", "4294967295"]
    )
    assert (args.poll, args.epochs, args.lr_micros) == (0.1, 1000, 2**32 - 1)
    assert parser().parse_args(["follow", "--job", "x", "--poll", "3600"]).poll == 3600


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
