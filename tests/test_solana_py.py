"""mirror-localnet under solana-py (AsyncClient, SolanaWsClient) and solders' typed responses.

The first test drives a whole mirror life through solana-py alone, the way a Python dApp would: the
instructions built from the IDL's discriminators and Borsh args (mirror_common.codec), sent as v0
transactions and confirmed with AsyncClient, the accounts read back with getAccountInfo,
getMultipleAccounts and getProgramAccounts (memcmp), the events taken from a logsSubscribe stream and
the mirror's changes from an accountSubscribe stream.

The second reads what wallets and explorers read, each answer parsed by solders into its typed response
(so a field of the wrong shape fails here): jsonParsed transactions (system, memo, compute budget and
the Mirror program's own instruction), blocks, a priority fee as getFeeForMessage, the fee charged and
getRecentPrioritizationFees see it, SPL Token accounts, and the cluster as a one-node
solana-test-validator describes it.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import base58
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TokenAccountOpts, TxOpts
from solana.rpc.websocket_api import RpcTransactionLogsFilterMentions, SolanaWsClient
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.errors import BlockNotAvailableMessage
from solders.signature import Signature
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import VersionedTransaction
from solders.transaction_status import (
    ParsedInstruction,
    TransactionConfirmationStatus,
    TransactionDetails,
    UiParsedMessage,
    UiPartiallyDecodedInstruction,
)

from mirror_common import codec
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_mirror_flow import DATASET_CID, MODEL_CID, PARAMS, EventStream

PROGRAM_ID = Pubkey.from_string(MIRROR_PROGRAM_ID)
TOKEN_PROGRAM_ID = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
MEMO_PROGRAM_ID = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
COMPUTE_BUDGET_ID = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
MANAGE, TRAIN = 8, 4
NOTIFICATION_TIMEOUT = 15.0


async def latest(rpc: AsyncClient) -> tuple[Hash, int]:
    value = (await rpc.get_latest_blockhash(Confirmed)).value
    return value.blockhash, value.last_valid_block_height


async def send_v0(rpc: AsyncClient, instructions: list[Instruction], *signers: Keypair) -> tuple[Signature, int]:
    """A v0 transaction (the first signer pays), sent with preflight and confirmed: (signature, slot)."""
    blockhash, last_valid = await latest(rpc)
    tx = VersionedTransaction(MessageV0.try_compile(signers[0].pubkey(), instructions, [], blockhash), list(signers))
    signature = (await rpc.send_transaction(tx, opts=TxOpts(preflight_commitment=Confirmed))).value
    assert signature == tx.signatures[0]
    await rpc.confirm_transaction(signature, Confirmed, sleep_seconds=0.05, last_valid_block_height=last_valid)
    status = (await rpc.get_signature_statuses([signature])).value[0]
    assert status is not None and status.err is None, f"{signature}: {status}"
    return signature, status.slot


def mirror_ix(name: str, args: dict[str, Any], accounts: dict[str, Pubkey]) -> Instruction:
    return codec.build_instruction(name, args, accounts)


async def fields(rpc: AsyncClient, address: Pubkey, account_type: str) -> dict[str, Any]:
    info = (await rpc.get_account_info(address, Confirmed, encoding="base64")).value
    assert info is not None, f"no {account_type} at {address}"
    assert info.owner == PROGRAM_ID
    return codec.decode_account(info.data, account_type).fields


async def test_solana_py_drives_a_mirror_life(rpc: AsyncClient, localnet: Localnet, trainer: Keypair) -> None:
    creator = await funded(rpc, 5)
    grantee = await funded(rpc, 5)
    config = codec.config_pda()
    mirror = codec.mirror_pda(creator.pubkey(), 7)
    grant = codec.grant_pda(mirror, grantee.pubkey())
    job = codec.job_pda(mirror, 0)
    model = codec.model_pda(mirror, 1)
    trainer_account = codec.trainer_pda(trainer.pubkey())
    mirrors_before = (await fields(rpc, config, "Config"))["mirror_count"]
    registered = await fields(rpc, trainer_account, "Trainer")
    assert registered["authority"] == str(trainer.pubkey()) and registered["active"] is True  # bootstrap registered it

    async with SolanaWsClient(localnet.ws_url) as ws, SolanaWsClient(localnet.ws_url) as account_ws:
        await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(PROGRAM_ID), commitment=Confirmed)
        events = EventStream(ws)
        await account_ws.account_subscribe(pubkey=mirror, commitment=Confirmed, encoding="base64")

        # create_mirror
        ix = mirror_ix(
            "create_mirror",
            {"mirror_id": 7, "name": "Grace", "metadata_uri": "ipfs://grace", "visibility": "Public"},
            {"config": config, "mirror": mirror, "creator": creator.pubkey()},
        )
        sig, _ = await send_v0(rpc, [ix], creator)
        created = await events.one(str(sig), "MirrorCreated")
        assert created["mirror"] == str(mirror) and created["mirror_id"] == 7 and created["name"] == "Grace"
        assert created["visibility"] == "Public" and created["owner"] == str(creator.pubkey())
        state = await fields(rpc, mirror, "Mirror")
        assert state["owner"] == str(creator.pubkey()) and state["status"] == "Active" and state["model_version"] == 0
        assert (await fields(rpc, config, "Config"))["mirror_count"] == mirrors_before + 1
        note = await asyncio.wait_for(account_ws.recv(), NOTIFICATION_TIMEOUT)
        notified = note.result.value
        assert notified.owner == PROGRAM_ID and codec.decode_account(notified.data, "Mirror").fields["name"] == "Grace"

        mine = (
            await rpc.get_program_accounts(
                PROGRAM_ID,
                Confirmed,
                encoding="base64",
                filters=[
                    MemcmpOpts(offset=0, bytes=base58.b58encode(codec.default_codec().account_discriminator("Mirror")).decode()),
                    MemcmpOpts(offset=8 + 32, bytes=str(creator.pubkey())),
                ],
            )
        ).value
        assert [a.pubkey for a in mine] == [mirror]

        # grant_access: MANAGE | TRAIN to the grantee
        ix = mirror_ix(
            "grant_access",
            {"grantee": grantee.pubkey(), "permissions": MANAGE | TRAIN, "expires_at": 0},
            {"config": config, "mirror": mirror, "grant": grant, "owner": creator.pubkey()},
        )
        sig, _ = await send_v0(rpc, [ix], creator)
        granted = await events.one(str(sig), "AccessGranted")
        assert granted["grant"] == str(grant) and granted["permissions"] == MANAGE | TRAIN and granted["expires_at"] == 0
        assert (await fields(rpc, grant, "AccessGrant"))["grantee"] == str(grantee.pubkey())

        # request_training by the grantee
        ix = mirror_ix(
            "request_training",
            {"dataset_cid": DATASET_CID, "params": PARAMS},
            {"config": config, "mirror": mirror, "grant": grant, "job": job, "requester": grantee.pubkey()},
        )
        sig, _ = await send_v0(rpc, [ix], grantee)
        requested = await events.one(str(sig), "TrainRequested")
        assert requested["job"] == str(job) and requested["job_id"] == 0 and requested["params"] == PARAMS
        assert (await fields(rpc, job, "TrainingJob"))["status"] == "Requested"

        # start_training and complete_training by the dev trainer
        ix = mirror_ix(
            "start_training",
            {},
            {"config": config, "mirror": mirror, "job": job, "trainer": trainer_account, "authority": trainer.pubkey()},
        )
        sig, _ = await send_v0(rpc, [ix], trainer)
        started = await events.one(str(sig), "TrainingStarted")
        assert started["trainer"] == str(trainer.pubkey()) and started["job"] == str(job)
        running = await fields(rpc, job, "TrainingJob")
        assert running["status"] == "Running" and running["trainer"] == str(trainer.pubkey()) and running["started_at"] > 0

        metrics = {"final_loss_micros": 1_250_000, "tokens_trained": 8192}
        ix = mirror_ix(
            "complete_training",
            {"version": 1, "model_cid": MODEL_CID, "weights_sha256": "cd" * 32, "metrics": metrics},
            {"config": config, "mirror": mirror, "job": job, "model": model, "trainer": trainer_account, "authority": trainer.pubkey()},
        )
        sig, _ = await send_v0(rpc, [ix], trainer)
        completed = await events.one(str(sig), "TrainingCompleted")
        assert completed["version"] == 1 and completed["model"] == str(model) and completed["metrics"] == metrics
        published = await events.one(str(sig), "ModelPublished")
        assert published["model_cid"] == MODEL_CID and published["job"] == str(job)

        # Everything at once, as getMultipleAccounts returns it.
        infos = (await rpc.get_multiple_accounts([mirror, job, model], Confirmed, encoding="base64")).value
        assert all(i is not None and i.owner == PROGRAM_ID for i in infos)
        final_mirror, final_job, final_model = (
            codec.decode_account(i.data, t).fields for i, t in zip(infos, ("Mirror", "TrainingJob", "ModelVersion"), strict=True)
        )
        assert final_mirror["model_version"] == 1 and final_mirror["job_count"] == 1
        assert final_job["status"] == "Completed" and final_job["model_cid"] == MODEL_CID and final_job["finished_at"] > 0
        assert final_model["version"] == 1 and final_model["mirror"] == str(mirror) and final_model["metrics"] == metrics

        # The mirror's accountSubscribe saw it reach model version 1.
        while True:
            note = await asyncio.wait_for(account_ws.recv(), NOTIFICATION_TIMEOUT)
            if codec.decode_account(note.result.value.data, "Mirror").fields["model_version"] == 1:
                break


# --- blocks, parsed transactions, fees, tokens and the cluster -----------------------------------


def token_ix(data: bytes, *accounts: tuple[Pubkey, bool, bool]) -> Instruction:
    return Instruction(TOKEN_PROGRAM_ID, data, [AccountMeta(k, is_signer=s, is_writable=w) for k, s, w in accounts])


def memo_ix(signer: Pubkey, text: str) -> Instruction:
    return Instruction(MEMO_PROGRAM_ID, text.encode(), [AccountMeta(signer, is_signer=True, is_writable=False)])


async def transfer_with_memo(rpc: AsyncClient, payer: Keypair, recipient: Pubkey, memo: str) -> tuple[Signature, int]:
    return await send_v0(
        rpc,
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=3_000_000)), memo_ix(payer.pubkey(), memo)],
        payer,
    )


async def test_solana_py_priority_fee(rpc: AsyncClient) -> None:
    """Compute-budget instructions as a cluster honours them: getFeeForMessage, the fee charged and
    getRecentPrioritizationFees agree on 5000 per signature plus the unit price times the unit limit."""
    payer = await funded(rpc, 2)
    recipient = Keypair().pubkey()
    price, limit = 5_000, 100_000  # micro-lamports per CU, CUs: a 500 lamport priority fee
    instructions = [
        set_compute_unit_limit(limit),
        set_compute_unit_price(price),
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=3_000_000)),
    ]
    blockhash, _ = await latest(rpc)
    expected_fee = 5000 + (price * limit + 999_999) // 1_000_000
    assert (
        await rpc.get_fee_for_message(MessageV0.try_compile(payer.pubkey(), instructions, [], blockhash), Confirmed)
    ).value == expected_fee
    sig, slot = await send_v0(rpc, instructions, payer)
    tx = (await rpc.get_transaction(sig, "json", Confirmed, max_supported_transaction_version=0)).value
    assert tx is not None and tx.transaction.meta is not None and tx.transaction.meta.fee == expected_fee
    # Agave reports, per slot, the lowest unit price among the transactions that write-lock the account,
    # once the slot is finalized. The payer's airdrop may share the slot: ask for the recipient, which
    # only this transfer writes.
    deadline = asyncio.get_running_loop().time() + NOTIFICATION_TIMEOUT
    while True:
        fees = (await rpc.get_recent_prioritization_fees([recipient])).value
        if any(f.slot == slot for f in fees):
            break
        assert asyncio.get_running_loop().time() < deadline, f"slot {slot} never in getRecentPrioritizationFees: {fees[-5:]}"
        await asyncio.sleep(0.1)
    assert [f.prioritization_fee for f in fees if f.slot == slot] == [price], (slot, [(f.slot, f.prioritization_fee) for f in fees][-8:])


async def test_solana_py_parsed_transactions(rpc: AsyncClient) -> None:
    """getTransaction and getBlock with jsonParsed: system and memo instructions parsed, compute budget partially
    decoded (Agave has no parser for it); the Mirror
    program's own instruction in Agave's "partially decoded" shape (or, once issue #10 point 5 parses
    it from the IDL, a ParsedInstruction of type createMirror)."""
    payer = await funded(rpc, 2)
    recipient = Keypair().pubkey()
    memo = "solana-py parsed check"
    sig, slot = await send_v0(
        rpc,
        [
            set_compute_unit_limit(50_000),
            transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=recipient, lamports=3_000_000)),
            memo_ix(payer.pubkey(), memo),
        ],
        payer,
    )
    tx = (await rpc.get_transaction(sig, "jsonParsed", Confirmed, max_supported_transaction_version=0)).value
    assert tx is not None and tx.slot == slot
    meta = tx.transaction.meta
    assert meta is not None and meta.err is None and meta.fee == 5000
    message = tx.transaction.transaction.message
    assert isinstance(message, UiParsedMessage), f"jsonParsed answered with an unparsed message: {message}"
    keys = message.account_keys
    assert keys[0].pubkey == payer.pubkey() and keys[0].signer and keys[0].writable
    by_program = {ix.program: ix for ix in message.instructions if isinstance(ix, ParsedInstruction)}
    assert sorted(by_program) == ["spl-memo", "system"], message.instructions
    assert by_program["system"].parsed["type"] == "transfer"
    assert by_program["system"].parsed["info"] == {"source": str(payer.pubkey()), "destination": str(recipient), "lamports": 3_000_000}
    assert by_program["spl-memo"].parsed == memo
    # Agave 2.3's parsers do not cover the compute-budget program: partially decoded, data = tag 2 + u32 limit.
    [budget] = [ix for ix in message.instructions if ix.program_id == COMPUTE_BUDGET_ID]
    assert isinstance(budget, UiPartiallyDecodedInstruction) and budget.accounts == [], budget
    assert base58.b58decode(budget.data) == bytes([2]) + struct.pack("<I", 50_000)
    parsed_block = (await rpc.get_block(slot, "jsonParsed", max_supported_transaction_version=0)).value
    [in_block] = [t.transaction for t in parsed_block.transactions or [] if t.transaction.signatures[0] == sig]
    assert isinstance(in_block.message, UiParsedMessage) and in_block.message.account_keys[0].pubkey == payer.pubkey()

    creator = await funded(rpc, 2)
    create = codec.build_instruction(
        "create_mirror",
        {"mirror_id": 1, "name": "Parsed", "metadata_uri": "ipfs://p", "visibility": "Public"},
        {"config": codec.config_pda(), "mirror": codec.mirror_pda(creator.pubkey(), 1), "creator": creator.pubkey()},
    )
    create_sig, _ = await send_v0(rpc, [create], creator)
    parsed_create = (await rpc.get_transaction(create_sig, "jsonParsed", Confirmed, max_supported_transaction_version=0)).value
    assert parsed_create is not None
    [mirror_instruction] = parsed_create.transaction.transaction.message.instructions
    if isinstance(mirror_instruction, UiPartiallyDecodedInstruction):
        assert mirror_instruction.program_id == PROGRAM_ID
        assert base58.b58decode(mirror_instruction.data) == bytes(create.data)
        assert mirror_instruction.accounts == [m.pubkey for m in create.accounts]
    else:
        assert isinstance(mirror_instruction, ParsedInstruction) and mirror_instruction.program_id == PROGRAM_ID
        assert mirror_instruction.program == "mirror" and mirror_instruction.parsed["type"] == "createMirror", mirror_instruction.parsed
        info = mirror_instruction.parsed["info"]
        assert (info["name"], info["metadataUri"], info["visibility"]) == ("Parsed", "ipfs://p", "Public"), info
        assert (info["mirror"], info["creator"]) == (str(codec.mirror_pda(creator.pubkey(), 1)), str(creator.pubkey())), info


async def test_solana_py_blocks(rpc: AsyncClient) -> None:
    """getBlock (json, signatures), its parent's blockhash as previousBlockhash, getBlocks,
    getBlockTime, getSignatureStatuses with searchTransactionHistory, and Agave's error for a slot
    not produced yet."""
    payer = await funded(rpc, 2)
    sig, slot = await transfer_with_memo(rpc, payer, Keypair().pubkey(), "block check")
    tx = (await rpc.get_transaction(sig, "json", Confirmed, max_supported_transaction_version=0)).value
    assert tx is not None
    statuses = (await rpc.get_signature_statuses([sig], search_transaction_history=True)).value
    assert statuses[0] is not None and statuses[0].slot == slot

    block = (await rpc.get_block(slot, "json", max_supported_transaction_version=0, commitment=Confirmed)).value
    assert block.parent_slot < slot and block.block_height is not None and block.block_time == tx.block_time
    assert any(t.transaction.signatures[0] == sig for t in block.transactions or [])
    parent = (await rpc.get_block(block.parent_slot, max_supported_transaction_version=0, commitment=Confirmed)).value
    assert parent.blockhash == block.previous_blockhash and parent.block_height == block.block_height - 1
    signatures = (
        await rpc.get_block(slot, max_supported_transaction_version=0, transaction_details=TransactionDetails.Signatures, rewards=False)
    ).value
    assert sig in (signatures.signatures or []) and signatures.transactions is None and signatures.rewards is None
    # solana-py's getBlocks takes no commitment: Agave's default, finalized, lists blocks up to the root.
    deadline = asyncio.get_running_loop().time() + NOTIFICATION_TIMEOUT
    while (await rpc.get_signature_statuses([sig])).value[0].confirmation_status != TransactionConfirmationStatus.Finalized:
        assert asyncio.get_running_loop().time() < deadline, f"{sig} not finalized"
        await asyncio.sleep(0.05)
    blocks = (await rpc.get_blocks(block.parent_slot, slot)).value
    assert blocks[0] == block.parent_slot and blocks[-1] == slot, blocks
    assert (await rpc.get_block_time(slot)).value == block.block_time

    future = slot + 10_000_000
    try:
        await rpc.get_block(future, max_supported_transaction_version=0)
    except RPCException as e:
        # solders types the error by its code: -32004 is BlockNotAvailable.
        assert isinstance(e.args[0], BlockNotAvailableMessage), e
        assert e.args[0].message == f"Block not available for slot {future}"
    else:
        raise AssertionError("getBlock of a slot not produced yet answered")


async def test_solana_py_tokens(rpc: AsyncClient) -> None:
    """An SPL Token mint and account (instructions built by hand) read back with the token methods and jsonParsed."""
    payer = await funded(rpc, 2)
    mint, account = Keypair(), Keypair()
    mint_rent = (await rpc.get_minimum_balance_for_rent_exemption(82)).value
    account_rent = (await rpc.get_minimum_balance_for_rent_exemption(165)).value

    def create(new: Keypair, lamports: int, space: int) -> Instruction:
        params = CreateAccountParams(
            from_pubkey=payer.pubkey(), to_pubkey=new.pubkey(), lamports=lamports, space=space, owner=TOKEN_PROGRAM_ID
        )
        return create_account(params)

    await send_v0(
        rpc,
        [
            create(mint, mint_rent, 82),
            token_ix(bytes([20, 9]) + bytes(payer.pubkey()) + b"\x00", (mint.pubkey(), False, True)),  # InitializeMint2
            create(account, account_rent, 165),
            token_ix(
                bytes([18]) + bytes(payer.pubkey()), (account.pubkey(), False, True), (mint.pubkey(), False, False)
            ),  # InitializeAccount3
            token_ix(  # MintTo 2.5 tokens
                bytes([7]) + struct.pack("<Q", 2_500_000_000),
                (mint.pubkey(), False, True),
                (account.pubkey(), False, True),
                (payer.pubkey(), True, False),
            ),
        ],
        payer,
        mint,
        account,
    )
    owned = (await rpc.get_token_accounts_by_owner_json_parsed(payer.pubkey(), TokenAccountOpts(mint=mint.pubkey()), Confirmed)).value
    assert [a.pubkey for a in owned] == [account.pubkey()]
    data = owned[0].account.data
    assert data.program == "spl-token" and data.space == 165 and data.parsed["type"] == "account"
    info = data.parsed["info"]
    assert info["mint"] == str(mint.pubkey()) and info["owner"] == str(payer.pubkey()) and info["state"] == "initialized"
    assert info["tokenAmount"] == {"amount": "2500000000", "decimals": 9, "uiAmount": 2.5, "uiAmountString": "2.5"}
    raw = (await rpc.get_token_accounts_by_owner(payer.pubkey(), TokenAccountOpts(program_id=TOKEN_PROGRAM_ID), Confirmed)).value
    assert [a.pubkey for a in raw] == [account.pubkey()] and len(raw[0].account.data) == 165
    balance = (await rpc.get_token_account_balance(account.pubkey(), Confirmed)).value
    assert (balance.amount, balance.decimals, balance.ui_amount_string) == ("2500000000", 9, "2.5")
    assert (await rpc.get_token_supply(mint.pubkey(), Confirmed)).value.amount == "2500000000"
    assert [a.address for a in (await rpc.get_token_largest_accounts(mint.pubkey(), Confirmed)).value] == [account.pubkey()]
    mint_info = (await rpc.get_account_info_json_parsed(mint.pubkey(), Confirmed)).value
    assert mint_info is not None and mint_info.data.parsed["type"] == "mint"
    assert mint_info.data.parsed["info"]["supply"] == "2500000000" and mint_info.data.parsed["info"]["decimals"] == 9


async def test_solana_py_cluster(rpc: AsyncClient) -> None:
    """The cluster as a one-node solana-test-validator describes it: this node is its only node, leader
    and vote account; supply, inflation and epoch schedule figures are real."""
    identity = (await rpc.get_identity()).value.identity
    assert [n.pubkey for n in (await rpc.get_cluster_nodes()).value] == [identity]
    assert (await rpc.get_slot_leader(Confirmed)).value == identity
    votes = (await rpc.get_vote_accounts()).value
    assert [v.node_pubkey for v in votes.current] == [identity] and votes.delinquent == []
    schedule = (await rpc.get_leader_schedule()).value
    assert schedule is not None and list(schedule) == [identity]
    epoch_schedule = (await rpc.get_epoch_schedule()).value
    assert epoch_schedule.slots_per_epoch == (await rpc.get_epoch_info(Confirmed)).value.slots_in_epoch
    supply = (await rpc.get_supply(Confirmed)).value
    assert supply.total == supply.circulating + supply.non_circulating > 0
    g = (await rpc.get_inflation_governor(Confirmed)).value
    assert (g.initial, g.terminal, g.taper, g.foundation, g.foundation_term) == (0.08, 0.015, 0.15, 0.05, 7.0)
    assert (await rpc.get_transaction_count(Confirmed)).value > 0
