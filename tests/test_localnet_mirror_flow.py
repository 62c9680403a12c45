"""A wallet's view of the Mirror program on mirror-localnet: every instruction is
built, signed and sent over JSON-RPC, its accounts read back with getAccountInfo
and getProgramAccounts (memcmp), and its event seen in a logsSubscribe stream."""

from __future__ import annotations

import asyncio
from typing import Any

import base58
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import MemcmpOpts
from solana.rpc.websocket_api import RpcTransactionLogsFilterMentions, SolanaWsClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from mirror_common.logs import extract_program_data
from mirror_common.wallet import Wallet, WalletError
from tests.conftest import funded
from tests.test_localnet_rpc import raw

PROGRAM_ID = Pubkey.from_string(MIRROR_PROGRAM_ID)
DATASET_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
MODEL_CID = "bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve"
PARAMS = {"epochs": 1, "seq_len": 32, "batch_size": 4, "learning_rate_micros": 1000, "start_fresh": False}


class EventStream:
    """Mirror events from logsSubscribe(mentions program), keyed by signature."""

    def __init__(self, ws: SolanaWsClient) -> None:
        self.ws = ws
        self.by_signature: dict[str, list[codec.DecodedEvent]] = {}

    async def events_of(self, sig: str) -> list[codec.DecodedEvent]:
        while sig not in self.by_signature:
            note = await asyncio.wait_for(self.ws.recv(), 10)
            value = note.result.value
            payloads = extract_program_data(value.logs, MIRROR_PROGRAM_ID).data
            self.by_signature[str(value.signature)] = [codec.decode_event(p) for p in payloads]
        return self.by_signature[sig]

    async def one(self, sig: str, name: str) -> dict[str, Any]:
        events = [e for e in await self.events_of(sig) if e.name == name]
        assert len(events) == 1, f"expected one {name} in {await self.events_of(sig)}"
        return events[0].fields


async def test_every_instruction_over_rpc(rpc: AsyncClient, localnet: Localnet, admin: Keypair, trainer: Keypair) -> None:
    wallet = Wallet(rpc)
    creator = await funded(rpc, 5)
    grantee = await funded(rpc, 5)
    new_owner = Keypair()
    config = codec.config_pda()

    async with SolanaWsClient(localnet.ws_url) as ws:
        await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(PROGRAM_ID), commitment=Confirmed)
        events = EventStream(ws)

        # initialize_config ran at bootstrap: its event is in the config's first transaction.
        history = (await rpc.get_signatures_for_address(config)).value
        first = (await rpc.get_transaction(history[-1].signature, commitment=Confirmed)).value
        init = [codec.decode_event(p) for p in extract_program_data(first.transaction.meta.log_messages, MIRROR_PROGRAM_ID).data]
        assert [e.name for e in init] == ["ConfigInitialized"] and init[0].fields["admin"] == str(admin.pubkey())
        assert (await wallet.account(config))["admin"] == str(admin.pubkey())

        # create_mirror
        mirror = codec.mirror_pda(creator.pubkey(), 1)
        sig = await wallet.send(
            "create_mirror",
            {"mirror_id": 1, "name": "Ada", "metadata_uri": "ipfs://ada", "visibility": "Private"},
            {"config": config, "mirror": mirror, "creator": creator.pubkey()},
            creator,
        )
        created = await events.one(sig, "MirrorCreated")
        state = await wallet.account(mirror)
        assert created["mirror"] == str(mirror) and created["owner"] == str(creator.pubkey())
        assert state["name"] == "Ada" and state["visibility"] == "Private" and state["status"] == "Active"
        owned = (
            await rpc.get_program_accounts(
                PROGRAM_ID,
                Confirmed,
                encoding="base64",
                filters=[MemcmpOpts(offset=8 + 32, bytes=str(creator.pubkey()))],
            )
        ).value
        assert [a.pubkey for a in owned] == [mirror]

        # update_mirror by the owner
        sig = await wallet.send(
            "update_mirror",
            {"name": "Ada L.", "metadata_uri": None, "visibility": "Public"},
            {"config": config, "mirror": mirror, "authority": creator.pubkey()},
            creator,
        )
        assert (await events.one(sig, "MirrorUpdated"))["name"] == "Ada L."
        assert (await wallet.account(mirror))["visibility"] == "Public"

        # grant_access: MANAGE | TRAIN
        grant = codec.grant_pda(mirror, grantee.pubkey())
        sig = await wallet.send(
            "grant_access",
            {"grantee": grantee.pubkey(), "permissions": 8 | 4, "expires_at": 0},
            {"config": config, "mirror": mirror, "grant": grant, "owner": creator.pubkey()},
            creator,
        )
        assert (await events.one(sig, "AccessGranted"))["permissions"] == 12
        grants = (
            await rpc.get_program_accounts(
                PROGRAM_ID,
                Confirmed,
                encoding="base64",
                filters=[
                    MemcmpOpts(offset=0, bytes=base58.b58encode(codec.default_codec().account_discriminator("AccessGrant")).decode()),
                    MemcmpOpts(offset=8, bytes=str(mirror)),
                ],
            )
        ).value
        assert [g.pubkey for g in grants] == [grant]

        # the grantee updates with MANAGE and requests training with TRAIN
        await wallet.send(
            "update_mirror",
            {"name": None, "metadata_uri": "ipfs://ada-v2", "visibility": None},
            {"config": config, "mirror": mirror, "grant": grant, "authority": grantee.pubkey()},
            grantee,
        )
        job0 = codec.job_pda(mirror, 0)
        sig = await wallet.send(
            "request_training",
            {"dataset_cid": DATASET_CID, "params": PARAMS},
            {"config": config, "mirror": mirror, "grant": grant, "job": job0, "requester": grantee.pubkey()},
            grantee,
        )
        requested = await events.one(sig, "TrainRequested")
        assert requested["job_id"] == 0 and requested["requester"] == str(grantee.pubkey())

        # cancel_training by the owner
        sig = await wallet.send("cancel_training", {}, {"mirror": mirror, "job": job0, "authority": creator.pubkey()}, creator)
        assert (await events.one(sig, "TrainingCancelled"))["previous_status"] == "Requested"
        assert (await wallet.account(job0))["status"] == "Cancelled"

        # a job that completes: start_training, complete_training (dev trainer from bootstrap)
        trainer_account = codec.trainer_pda(trainer.pubkey())
        job1 = codec.job_pda(mirror, 1)
        await wallet.send(
            "request_training",
            {"dataset_cid": DATASET_CID, "params": PARAMS},
            {"config": config, "mirror": mirror, "job": job1, "requester": creator.pubkey()},
            creator,
        )
        sig = await wallet.send(
            "start_training",
            {},
            {"config": config, "mirror": mirror, "job": job1, "trainer": trainer_account, "authority": trainer.pubkey()},
            trainer,
        )
        assert (await events.one(sig, "TrainingStarted"))["trainer"] == str(trainer.pubkey())
        model1 = codec.model_pda(mirror, 1)
        sig = await wallet.send(
            "complete_training",
            {
                "version": 1,
                "model_cid": MODEL_CID,
                "weights_sha256": "ab" * 32,
                "metrics": {"final_loss_micros": 1_500_000, "tokens_trained": 4096},
            },
            {"config": config, "mirror": mirror, "job": job1, "model": model1, "trainer": trainer_account, "authority": trainer.pubkey()},
            trainer,
        )
        assert (await events.one(sig, "TrainingCompleted"))["version"] == 1
        assert (await events.one(sig, "ModelPublished"))["model"] == str(model1)
        assert (await wallet.account(model1))["model_cid"] == MODEL_CID
        assert (await wallet.account(mirror))["model_version"] == 1

        # a job that fails: fail_training with a reason code
        job2 = codec.job_pda(mirror, 2)
        await wallet.send(
            "request_training",
            {"dataset_cid": DATASET_CID, "params": PARAMS},
            {"config": config, "mirror": mirror, "job": job2, "requester": creator.pubkey()},
            creator,
        )
        await wallet.send(
            "start_training",
            {},
            {"config": config, "mirror": mirror, "job": job2, "trainer": trainer_account, "authority": trainer.pubkey()},
            trainer,
        )
        sig = await wallet.send(
            "fail_training", {"reason_code": 4}, {"job": job2, "trainer": trainer_account, "authority": trainer.pubkey()}, trainer
        )
        assert (await events.one(sig, "TrainingFailed"))["reason_code"] == 4
        assert (await wallet.account(job2))["failure_code"] == 4

        # revoke_access returns the rent to the owner and closes the account
        sig = await wallet.send("revoke_access", {}, {"mirror": mirror, "grant": grant, "owner": creator.pubkey()}, creator)
        assert (await events.one(sig, "AccessRevoked"))["grantee"] == str(grantee.pubkey())
        assert (await rpc.get_account_info(grant, Confirmed)).value is None

        # transfer_mirror, then freeze by the new owner
        sig = await wallet.send(
            "transfer_mirror",
            {"new_owner": new_owner.pubkey()},
            {"config": config, "mirror": mirror, "owner": creator.pubkey()},
            creator,
        )
        assert (await events.one(sig, "MirrorTransferred"))["new_owner"] == str(new_owner.pubkey())
        await rpc.confirm_transaction((await rpc.request_airdrop(new_owner.pubkey(), 10**9)).value, Confirmed, sleep_seconds=0.05)
        sig = await wallet.send("freeze_mirror", {}, {"mirror": mirror, "owner": new_owner.pubkey()}, new_owner)
        assert (await events.one(sig, "MirrorFrozen"))["owner"] == str(new_owner.pubkey())
        assert (await wallet.account(mirror))["status"] == "Frozen"

        # admin: register_trainer, deactivate_trainer, set_paused
        other = Keypair()
        other_account = codec.trainer_pda(other.pubkey())
        sig = await wallet.send(
            "register_trainer",
            {"authority": other.pubkey(), "encryption_key": "11" * 32},
            {"config": config, "trainer": other_account, "admin": admin.pubkey()},
            admin,
        )
        assert (await events.one(sig, "TrainerRegistered"))["authority"] == str(other.pubkey())
        sig = await wallet.send("deactivate_trainer", {}, {"config": config, "trainer": other_account, "admin": admin.pubkey()}, admin)
        assert (await events.one(sig, "TrainerDeactivated"))["trainer"] == str(other_account)
        assert (await wallet.account(other_account))["active"] is False
        sig = await wallet.send("set_paused", {"paused": True}, {"config": config, "admin": admin.pubkey()}, admin)
        assert (await events.one(sig, "PauseChanged"))["paused"] is True
        sig = await wallet.send("set_paused", {"paused": False}, {"config": config, "admin": admin.pubkey()}, admin)
        assert (await events.one(sig, "PauseChanged"))["paused"] is False


async def test_grant_expiry_follows_the_clock_cheatcode(rpc: AsyncClient, localnet: Localnet) -> None:
    """The Clock sysvar follows wall time; mirror_warpClock moves it so expiry is testable."""
    wallet = Wallet(rpc)
    owner = await funded(rpc, 5)
    grantee = await funded(rpc, 5)
    config = codec.config_pda()
    mirror = codec.mirror_pda(owner.pubkey(), 7)
    await wallet.send(
        "create_mirror",
        {"mirror_id": 7, "name": "Expiring", "metadata_uri": "", "visibility": "Public"},
        {"config": config, "mirror": mirror, "creator": owner.pubkey()},
        owner,
    )
    now = (await raw(localnet, "mirror_warpClock", [{"seconds": 0}]))["result"]["unixTimestamp"]
    grant = codec.grant_pda(mirror, grantee.pubkey())
    await wallet.send(
        "grant_access",
        {"grantee": grantee.pubkey(), "permissions": 8, "expires_at": now + 3600},
        {"config": config, "mirror": mirror, "grant": grant, "owner": owner.pubkey()},
        owner,
    )
    update = (
        "update_mirror",
        {"name": "ok", "metadata_uri": None, "visibility": None},
        {"config": config, "mirror": mirror, "grant": grant, "authority": grantee.pubkey()},
    )
    await wallet.send(*update, grantee)
    await raw(localnet, "mirror_warpClock", [{"seconds": 3601, "slots": 10}])
    with pytest.raises(WalletError) as refused:
        await wallet.send(*update, grantee)
    code = next(e["code"] for e in codec.default_codec().idl["errors"] if e["name"] == "GrantExpired")
    assert refused.value.program_error == "GrantExpired" and refused.value.code == code, refused.value


async def test_bootstrap_trainer_key_is_the_x25519_form_pynacl_derives(rpc: AsyncClient, trainer: Keypair) -> None:
    """The dev trainer's published encryption key is what the trainer daemon can open
    datasets with: PyNaCl's X25519 form of the same ed25519 key (DESIGN.md §7)."""
    from nacl.public import PrivateKey, PublicKey, SealedBox
    from nacl.signing import SigningKey

    account = await Wallet(rpc).account(codec.trainer_pda(trainer.pubkey()))
    assert account["active"] is True and account["authority"] == str(trainer.pubkey())
    signing = SigningKey(bytes(trainer)[:32])
    assert bytes.fromhex(account["encryption_key"]) == bytes(signing.verify_key.to_curve25519_public_key())
    # A dataset key sealed to the published key opens with the trainer's private key.
    sealed = SealedBox(PublicKey(bytes.fromhex(account["encryption_key"]))).encrypt(b"dataset key")
    private = PrivateKey(bytes(signing.to_curve25519_private_key()))
    assert SealedBox(private).decrypt(sealed) == b"dataset key"
