"""mirror-localnet against solana-py's AsyncClient (a client nobody here wrote):
every JSON-RPC method of DESIGN.md §3, the semantics clients rely on, and bad input."""

from __future__ import annotations

import asyncio
import base64
import time

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized, Processed
from solana.rpc.core import RPCException
from solana.rpc.models import MemcmpOpts, TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from mirror_common import codec
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from tests.conftest import LAMPORTS_PER_SOL, funded

PROGRAM_ID = Pubkey.from_string(MIRROR_PROGRAM_ID)


async def raw(localnet: Localnet, method: str, params: list | None = None) -> dict:
    async with httpx.AsyncClient() as http:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        return (await http.post(localnet.rpc_url, json=body)).json()


async def transfer_tx(rpc: AsyncClient, payer: Keypair, to: Pubkey, lamports: int, blockhash: Hash | None = None) -> VersionedTransaction:
    blockhash = blockhash or (await rpc.get_latest_blockhash()).value.blockhash
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports))
    return VersionedTransaction.from_legacy(Transaction([payer], Message([ix], payer.pubkey()), blockhash))


# ---- cluster info ---------------------------------------------------------------


async def test_version_health_genesis(rpc: AsyncClient, localnet: Localnet) -> None:
    version = (await rpc.get_version()).value
    assert version.solana_core.startswith("2.")
    assert await rpc.is_connected()
    genesis = (await rpc.get_genesis_hash()).value
    assert genesis == (await rpc.get_genesis_hash()).value  # stable
    assert (await raw(localnet, "getHealth"))["result"] == "ok"


async def test_slots_advance_on_their_own_and_finalized_lags(rpc: AsyncClient) -> None:
    first = (await rpc.get_slot(Processed)).value
    await asyncio.sleep(0.5)
    second = (await rpc.get_slot(Processed)).value
    assert second > first, "slots must advance without transactions"
    finalized = (await rpc.get_slot(Finalized)).value
    assert 1 <= second - finalized <= 4  # depth 2, plus a tick racing the two reads
    # Block height counts blocks: never more than the slot (warped and restart-lost slots are skipped).
    height = (await rpc.get_block_height(Confirmed)).value
    assert 0 < height <= (await rpc.get_slot(Confirmed)).value
    epoch = (await rpc.get_epoch_info(Confirmed)).value
    assert epoch.absolute_slot >= second and epoch.slots_in_epoch == 432_000
    assert epoch.slot_index == epoch.absolute_slot % 432_000


async def test_block_time_follows_wall_clock(rpc: AsyncClient, localnet: Localnet) -> None:
    # The node's clock is wall time plus whatever mirror_warpClock added (other tests warp it).
    clock = lambda reply: reply["result"]["unixTimestamp"]  # noqa: E731
    offset = clock(await raw(localnet, "mirror_warpClock", [{"seconds": 0}])) - time.time()
    slot = (await rpc.get_slot(Processed)).value
    block_time = (await rpc.get_block_time(slot)).value
    assert abs(block_time - (time.time() + offset)) < 3
    before = clock(await raw(localnet, "mirror_warpClock", [{"seconds": 0}]))
    await asyncio.sleep(1.5)
    after = clock(await raw(localnet, "mirror_warpClock", [{"seconds": 0}]))
    assert 1 <= after - before <= 3, "the clock must follow wall time"
    future = await raw(localnet, "getBlockTime", [slot + 1_000_000])
    assert future["error"]["code"] == -32004
    assert future["error"]["message"] == f"Block not available for slot {slot + 1_000_000}"


async def test_blockhash_validity_and_fee(rpc: AsyncClient, localnet: Localnet) -> None:
    latest = (await rpc.get_latest_blockhash(Confirmed)).value
    slot = (await rpc.get_slot(Processed)).value
    height = (await rpc.get_block_height(Confirmed)).value
    assert height + 140 <= latest.last_valid_block_height <= height + 150
    finalized = (await rpc.get_latest_blockhash(Finalized)).value
    assert finalized.last_valid_block_height < latest.last_valid_block_height  # the root's, 2 slots back
    # solana-py has no isBlockhashValid; the raw reply has Agave's shape.
    valid = await raw(localnet, "isBlockhashValid", [str(latest.blockhash), {"commitment": "processed"}])
    assert valid["result"]["value"] is True and valid["result"]["context"]["slot"] >= slot
    assert (await raw(localnet, "isBlockhashValid", [str(Hash.new_unique())]))["result"]["value"] is False
    payer = Keypair()
    msg = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1))], payer.pubkey(), latest.blockhash
    )
    assert (await rpc.get_fee_for_message(msg)).value == 5000
    stale = Message.new_with_blockhash(
        [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1))], payer.pubkey(), Hash.new_unique()
    )
    assert (await rpc.get_fee_for_message(stale)).value is None


async def test_rent_exemption(rpc: AsyncClient) -> None:
    assert (await rpc.get_minimum_balance_for_rent_exemption(0)).value == 890_880
    assert (await rpc.get_minimum_balance_for_rent_exemption(100)).value == 1_586_880


# ---- accounts ---------------------------------------------------------------------


async def test_airdrop_balance_and_account_info(rpc: AsyncClient) -> None:
    kp = await funded(rpc, 3)
    assert (await rpc.get_balance(kp.pubkey(), Confirmed)).value == 3 * LAMPORTS_PER_SOL
    info = (await rpc.get_account_info(kp.pubkey(), Confirmed)).value
    assert info is not None and info.lamports == 3 * LAMPORTS_PER_SOL and info.owner == Pubkey.default()
    assert (await rpc.get_account_info(Pubkey.new_unique())).value is None
    many = (await rpc.get_multiple_accounts([kp.pubkey(), Pubkey.new_unique()], Confirmed)).value
    assert many[0] is not None and many[0].lamports == 3 * LAMPORTS_PER_SOL and many[1] is None


async def test_program_accounts_with_filters(rpc: AsyncClient) -> None:
    # Bootstrap created Config and the dev Trainer.
    all_accounts = (await rpc.get_program_accounts(PROGRAM_ID, Confirmed, encoding="base64")).value
    names = {codec.account_type(a.account.data) for a in all_accounts}
    assert {"Config", "Trainer"} <= names
    config_size = len(next(a for a in all_accounts if codec.account_type(a.account.data) == "Config").account.data)
    by_size = (await rpc.get_program_accounts(PROGRAM_ID, Confirmed, encoding="base64", filters=[config_size])).value
    assert all(len(a.account.data) == config_size for a in by_size) and by_size
    disc = codec.default_codec().account_discriminator("Trainer")
    import base58

    trainers = (
        await rpc.get_program_accounts(
            PROGRAM_ID, Confirmed, encoding="base64", filters=[MemcmpOpts(offset=0, bytes=base58.b58encode(disc).decode())]
        )
    ).value
    assert trainers and all(codec.account_type(a.account.data) == "Trainer" for a in trainers)


async def test_finalized_reads_lag_confirmed_writes() -> None:
    """A write is visible at confirmed at once and at finalized only once the root passes it.
    Its own node with a deep finality window (20 slots of 100 ms) keeps this deterministic."""
    with Localnet(slot_ms=100, finality_depth=20, bootstrap=False) as node:
        async with AsyncClient(node.rpc_url) as client:
            kp = Keypair()
            sig = (await client.request_airdrop(kp.pubkey(), LAMPORTS_PER_SOL)).value
            assert (await client.get_balance(kp.pubkey(), Confirmed)).value == LAMPORTS_PER_SOL
            assert (await client.get_balance(kp.pubkey(), Finalized)).value == 0
            assert (await client.get_account_info(kp.pubkey(), Finalized)).value is None
            status = (await client.get_signature_statuses([sig])).value[0]
            assert status is not None and status.confirmations is not None
            assert (await client.get_signatures_for_address(kp.pubkey(), commitment=Finalized)).value == []
            await client.confirm_transaction(sig, commitment=Finalized, sleep_seconds=0.05)
            assert (await client.get_balance(kp.pubkey(), Finalized)).value == LAMPORTS_PER_SOL
            status = (await client.get_signature_statuses([sig])).value[0]
            assert status is not None and status.confirmations is None
            assert [s.signature for s in (await client.get_signatures_for_address(kp.pubkey(), commitment=Finalized)).value] == [sig]


# ---- transactions -------------------------------------------------------------------


async def test_send_confirm_and_get_transaction(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 2)
    to = Pubkey.new_unique()
    tx = await transfer_tx(rpc, payer, to, 12_345)
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    assert (await rpc.get_balance(to, Confirmed)).value == 12_345
    got = (await rpc.get_transaction(sig, encoding="json", commitment=Confirmed)).value
    assert got is not None and got.transaction.meta.err is None
    assert got.transaction.meta.fee == 5000
    assert got.transaction.meta.log_messages == [
        "Program 11111111111111111111111111111111 invoke [1]",
        "Program 11111111111111111111111111111111 success",
    ]
    assert got.block_time is not None and got.slot > 0
    b64 = (await rpc.get_transaction(sig, encoding="base64", commitment=Confirmed)).value
    decoded = b64.transaction.transaction
    assert decoded.signatures[0] == sig


async def test_get_transaction_rejects_processed_commitment(localnet: Localnet, rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    sigs = (await rpc.get_signatures_for_address(payer.pubkey())).value
    reply = await raw(localnet, "getTransaction", [str(sigs[0].signature), {"commitment": "processed"}])
    assert reply["error"] == {"code": -32602, "message": "Method does not support commitment below `confirmed`"}


async def test_v0_transaction_needs_max_supported_version(localnet: Localnet, rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=1))
    tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer])
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    reply = await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed"}])
    assert reply["error"]["code"] == -32015
    got = (await rpc.get_transaction(sig, commitment=Confirmed, max_supported_transaction_version=0)).value
    assert got is not None and got.transaction.version == 0


async def test_duplicate_is_already_processed(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    tx = await transfer_tx(rpc, payer, Pubkey.new_unique(), 1)
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    with pytest.raises(RPCException) as err:
        await rpc.send_transaction(tx)
    assert "This transaction has already been processed" in str(err.value)


async def test_unknown_and_expired_blockhash_rejected(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    with pytest.raises(RPCException) as err:
        await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 1, blockhash=Hash.new_unique()))
    assert "Blockhash not found" in str(err.value)
    old = (await rpc.get_latest_blockhash()).value.blockhash
    warp = await raw(localnet, "mirror_warpClock", [{"slots": 200}])
    assert warp["result"]["slot"] > 200
    with pytest.raises(RPCException) as err:
        await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 1, blockhash=old))
    assert "Blockhash not found" in str(err.value)


async def test_bad_signature_rejected(localnet: Localnet, rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    tx = await transfer_tx(rpc, payer, Pubkey.new_unique(), 1)
    wire = bytearray(bytes(tx))
    wire[10] ^= 0xFF  # inside the first signature
    reply = await raw(localnet, "sendTransaction", [base64.b64encode(bytes(wire)).decode(), {"encoding": "base64"}])
    assert reply["error"] == {"code": -32003, "message": "Transaction signature verification failure"}


async def test_simulate_returns_logs_and_changes_nothing(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    to = Pubkey.new_unique()
    tx = await transfer_tx(rpc, payer, to, 5_000_000)
    sim = (await rpc.simulate_transaction(tx, accounts_addresses=[to])).value
    assert sim.err is None
    assert sim.logs == ["Program 11111111111111111111111111111111 invoke [1]", "Program 11111111111111111111111111111111 success"]
    assert sim.accounts is not None and sim.accounts[0].lamports == 5_000_000
    assert (await rpc.get_balance(to, Processed)).value == 0
    assert (await rpc.get_balance(payer.pubkey(), Processed)).value == LAMPORTS_PER_SOL
    failing = await transfer_tx(rpc, payer, to, 50 * LAMPORTS_PER_SOL)
    sim = (await rpc.simulate_transaction(failing)).value
    assert sim.err is not None and any("insufficient lamports" in line for line in sim.logs)


async def test_failed_transaction_is_recorded_with_its_error(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    tx = await transfer_tx(rpc, payer, Pubkey.new_unique(), 50 * LAMPORTS_PER_SOL)
    with pytest.raises(RPCException) as preflight:
        await rpc.send_transaction(tx)
    assert "Transaction simulation failed" in str(preflight.value)
    sig = (await rpc.send_raw_transaction(bytes(tx), TxOpts(skip_preflight=True))).value
    await asyncio.sleep(0.05)
    status = (await rpc.get_signature_statuses([sig])).value[0]
    assert status is not None and status.err is not None
    listed = (await rpc.get_signatures_for_address(payer.pubkey())).value
    assert listed[0].signature == sig and listed[0].err is not None
    got = (await rpc.get_transaction(sig, commitment=Confirmed)).value
    assert got.transaction.meta.err is not None
    assert any("insufficient lamports" in line for line in got.transaction.meta.log_messages)
    assert (await rpc.get_balance(payer.pubkey(), Confirmed)).value == LAMPORTS_PER_SOL - 5000  # the fee was charged


async def test_signatures_for_address_pages_newest_first(rpc: AsyncClient) -> None:
    payer = await funded(rpc, 1)
    target = Pubkey.new_unique()
    sent = []
    for i in range(5):
        sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, target, 1_000_000 + i))).value
        await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
        sent.append(sig)
    listed = [s.signature for s in (await rpc.get_signatures_for_address(target)).value]
    assert listed == list(reversed(sent))
    page = [s.signature for s in (await rpc.get_signatures_for_address(target, before=sent[3], limit=2)).value]
    assert page == [sent[2], sent[1]]
    until = [s.signature for s in (await rpc.get_signatures_for_address(target, until=sent[1])).value]
    assert until == [sent[4], sent[3], sent[2]]
    both = [s.signature for s in (await rpc.get_signatures_for_address(target, before=sent[4], until=sent[1])).value]
    assert both == [sent[3], sent[2]]
    entry = (await rpc.get_signatures_for_address(target, limit=1)).value[0]
    assert entry.block_time is not None and entry.slot > 0


async def test_transaction_for_a_program_that_does_not_exist(rpc: AsyncClient) -> None:
    from solders.instruction import Instruction

    payer = await funded(rpc, 1)
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    tx = VersionedTransaction.from_legacy(
        Transaction([payer], Message([Instruction(Pubkey.new_unique(), b"x", [])], payer.pubkey()), blockhash)
    )
    with pytest.raises(RPCException) as err:
        await rpc.send_transaction(tx)
    assert "Transaction simulation failed" in str(err.value)
    assert (await rpc.get_balance(payer.pubkey(), Confirmed)).value == LAMPORTS_PER_SOL


# ---- bad input: each gets an Agave-style error and the node keeps serving --------------


@pytest.mark.parametrize(
    "body, code",
    [
        (b"{not json", -32700),
        (b"[]", -32600),
        (b'{"jsonrpc":"2.0","id":1}', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"noSuchMethod"}', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[42]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":["not-a-key"]}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["11111111111111111111111111111111",{"limit":"ten"}]}',
            -32602,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"getBalance","params":{"not":"an array"}}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["!!!notbase58!!!"]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["AAAA",{"encoding":"base64"}]}', -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["%%%",{"encoding":"base64"}]}', -32602),
        (
            b'{"jsonrpc":"2.0","id":1,"method":"getSignaturesForAddress","params":["11111111111111111111111111111111",{"limit":5000}]}',
            -32602,
        ),
        (b'{"jsonrpc":"2.0","id":1,"method":"mirror_warpClock","params":[{"seconds":-5}]}', -32602),
    ],
)
async def test_bad_requests_get_jsonrpc_errors(localnet: Localnet, body: bytes, code: int) -> None:
    async with httpx.AsyncClient() as http:
        reply = (await http.post(localnet.rpc_url, content=body, headers={"content-type": "application/json"})).json()
        assert reply["error"]["code"] == code, reply
        assert reply["jsonrpc"] == "2.0"
        assert (await http.post(localnet.rpc_url, json={"jsonrpc": "2.0", "id": 2, "method": "getHealth"})).json()["result"] == "ok"


async def test_oversized_body_is_refused_and_node_keeps_serving(localnet: Localnet) -> None:
    async with httpx.AsyncClient() as http:
        huge = b'{"jsonrpc":"2.0","id":1,"method":"getHealth","params":["' + b"a" * 200_000 + b'"]}'
        reply = await http.post(localnet.rpc_url, content=huge, headers={"content-type": "application/json"})
        assert reply.status_code == 413
        assert (await http.post(localnet.rpc_url, json={"jsonrpc": "2.0", "id": 2, "method": "getHealth"})).json()["result"] == "ok"


async def test_batch_requests(localnet: Localnet) -> None:
    async with httpx.AsyncClient() as http:
        batch = [{"jsonrpc": "2.0", "id": i, "method": m} for i, m in enumerate(["getHealth", "getSlot", "nope"])]
        replies = (await http.post(localnet.rpc_url, json=batch)).json()
        assert [r["id"] for r in replies] == [0, 1, 2]
        assert replies[0]["result"] == "ok" and isinstance(replies[1]["result"], int)
        assert replies[2]["error"]["code"] == -32601


async def test_hosts_the_mirror_system_and_spl_programs(rpc: AsyncClient) -> None:
    programs = {
        "Mirror": MIRROR_PROGRAM_ID,
        "SPL Token": "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "Associated Token": "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
        "Memo": "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
    }
    for name, address in programs.items():
        info = (await rpc.get_account_info(Pubkey.from_string(address), Confirmed)).value
        assert info is not None and info.executable, f"{name} program is not hosted"


async def test_spl_token_runs_as_an_sbf_program(rpc: AsyncClient) -> None:
    """The SPL Token build LiteSVM ships executes in the SBF VM: create and initialise a mint."""
    from solders.system_program import CreateAccountParams, create_account
    from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
    from spl.token.instructions import initialize_mint2
    from spl.token.models import InitializeMintParams

    payer = await funded(rpc, 2)
    mint = Keypair()
    rent = (await rpc.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
    ixs = [
        create_account(
            CreateAccountParams(from_pubkey=payer.pubkey(), to_pubkey=mint.pubkey(), lamports=rent, space=MINT_LEN, owner=TOKEN_PROGRAM_ID)
        ),
        initialize_mint2(InitializeMintParams(decimals=6, program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), mint_authority=payer.pubkey())),
    ]
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    tx = VersionedTransaction.from_legacy(Transaction([payer, mint], Message(ixs, payer.pubkey()), blockhash))
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    info = (await rpc.get_account_info(mint.pubkey(), Confirmed)).value
    assert info is not None and info.owner == TOKEN_PROGRAM_ID and len(info.data) == MINT_LEN
    assert info.data[44] == 6 and info.data[45] == 1  # decimals, is_initialized
    logs = (await rpc.get_transaction(sig, commitment=Confirmed)).value.transaction.meta.log_messages
    assert any(line.startswith("Program TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA consumed") for line in logs)
