"""mirror_common.wallet against a real mirror-localnet: a refusal names the program's error (its own
codes from the IDL, Anchor's framework codes from the logs) whether the node refuses in preflight or
the transaction lands and fails; an unreachable node is a WalletError with no program error; reads
check the owner and decode."""

from __future__ import annotations

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import MemcmpOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from mirror_common import codec
from mirror_common.retry import RetryPolicy
from mirror_common.wallet import Wallet, WalletError
from tests.conftest import funded


async def create_mirror(wallet: Wallet, owner: Keypair, mirror_id: int) -> Pubkey:
    mirror = codec.mirror_pda(owner.pubkey(), mirror_id)
    await wallet.send(
        "create_mirror",
        {"mirror_id": mirror_id, "name": "W", "metadata_uri": "", "visibility": "Public"},
        {"config": codec.config_pda(), "mirror": mirror, "creator": owner.pubkey()},
        owner,
    )
    return mirror


@pytest.mark.parametrize("preflight", [True, False], ids=["preflight", "landed"])
async def test_a_refusal_names_the_programs_error(rpc: AsyncClient, preflight: bool) -> None:
    wallet = Wallet(rpc, preflight=preflight)
    owner, stranger = await funded(rpc, 2), await funded(rpc, 2)
    mirror = await create_mirror(wallet, owner, 901 + int(preflight))
    update = {"name": "X", "metadata_uri": None, "visibility": None}
    with pytest.raises(WalletError) as refused:
        await wallet.send(
            "update_mirror", update, {"config": codec.config_pda(), "mirror": mirror, "authority": stranger.pubkey()}, stranger
        )
    idl_code = next(e["code"] for e in codec.default_codec().idl["errors"] if e["name"] == "NotAuthorized")
    assert (refused.value.program_error, refused.value.code) == ("NotAuthorized", idl_code), refused.value
    assert refused.value.signature is not None and "NotAuthorized" in str(refused.value)
    if not preflight:  # the failed transaction is on chain, with its logs
        status = (await rpc.get_signature_statuses([Signature.from_string(refused.value.signature)])).value[0]
        assert status is not None and status.err is not None
        assert any("NotAuthorized" in line for line in refused.value.logs)

    # An Anchor framework error (no such job account) is named from the program's logs.
    missing_job = codec.job_pda(mirror, 77)
    with pytest.raises(WalletError) as refused:
        await wallet.send("cancel_training", {}, {"mirror": mirror, "job": missing_job, "authority": owner.pubkey()}, owner)
    assert (refused.value.program_error, refused.value.code) == ("AccountNotInitialized", 3012), refused.value

    # The owner's own update goes through and is read back.
    signature = await wallet.send(
        "update_mirror", update, {"config": codec.config_pda(), "mirror": mirror, "authority": owner.pubkey()}, owner
    )
    assert (await rpc.get_transaction(Signature.from_string(signature), commitment=Confirmed)).value is not None
    assert (await wallet.account(mirror))["name"] == "X"


async def test_reads_check_the_owner_and_find_accounts_by_type(rpc: AsyncClient, trainer: Keypair) -> None:
    wallet = Wallet(rpc)
    assert await wallet.account_or_none(Pubkey.new_unique()) is None
    with pytest.raises(WalletError, match="no account"):
        await wallet.account(Pubkey.new_unique())
    someone = await funded(rpc, 1)
    with pytest.raises(WalletError, match="not the Mirror program"):
        await wallet.account(someone.pubkey())  # a system account
    with pytest.raises(WalletError, match="is not a Mirror"):
        await wallet.account(codec.trainer_pda(trainer.pubkey()), "Mirror")  # a Trainer account
    assert (await wallet.account(codec.trainer_pda(trainer.pubkey()), "Trainer"))["authority"] == str(trainer.pubkey())
    with pytest.raises(WalletError, match="base58"):
        await wallet.account("not-a-key")
    trainers = await wallet.program_accounts("Trainer", MemcmpOpts(offset=8, bytes=str(trainer.pubkey())))
    assert [(key, fields["authority"]) for key, fields in trainers] == [(codec.trainer_pda(trainer.pubkey()), str(trainer.pubkey()))]


async def test_an_unreachable_node_is_not_a_program_error() -> None:
    dead = AsyncClient("http://127.0.0.1:9")  # discard port: nothing listens
    try:
        wallet = Wallet(dead, retry=RetryPolicy(initial=0.01, attempts=2))
        with pytest.raises(WalletError) as failed:
            await wallet.send("set_paused", {"paused": True}, {"config": codec.config_pda(), "admin": Keypair().pubkey()}, Keypair())
        assert failed.value.program_error is None and failed.value.unreachable
    finally:
        await dead.close()


async def test_a_transaction_refused_before_the_program_runs_is_not_a_program_error(rpc: AsyncClient) -> None:
    """A payer with no account: the node refuses the transaction itself; nothing to say about the instruction."""
    broke = Keypair()
    with pytest.raises(WalletError) as refused:
        await Wallet(rpc).send(
            "create_mirror",
            {"mirror_id": 1, "name": "W", "metadata_uri": "", "visibility": "Public"},
            {"config": codec.config_pda(), "mirror": codec.mirror_pda(broke.pubkey(), 1), "creator": broke.pubkey()},
            broke,
        )
    assert refused.value.program_error is None and not refused.value.unreachable
    assert "refused the transaction" in str(refused.value), refused.value


async def test_bad_instruction_input_is_a_wallet_error(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    with pytest.raises(WalletError, match="missing accounts") as failed:
        await Wallet(rpc).send("set_paused", {"paused": True}, {}, payer)
    assert failed.value.program_error is None
