"""Blocks on mirror-localnet, in Agave's shapes and with Agave's errors: getBlock (every
transactionDetails, rewards, encodings, maxSupportedTransactionVersion), getBlocks,
getBlocksWithLimit, getBlockTime, getBlockCommitment, getBlockProduction,
getFirstAvailableBlock, minimumLedgerSlot and getBlockHeight; and blocks that survive
a restart like the rest of the ledger."""

from __future__ import annotations

import asyncio
import base64
import itertools
from pathlib import Path

import base58
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_rpc import raw, transfer_tx

BLOCK_KEYS = {"blockHeight", "blockTime", "blockhash", "parentSlot", "previousBlockhash"}


async def finalized(localnet: Localnet, slot: int) -> None:
    """Waits until `slot` is rooted."""
    for _ in range(200):
        if (await raw(localnet, "getSlot", [{"commitment": "finalized"}]))["result"] >= slot:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"slot {slot} never became final")


async def sent_transfer(rpc: AsyncClient, localnet: Localnet) -> tuple[Signature, int]:
    """A confirmed transfer and its slot, once that slot is final."""
    payer = await funded(rpc, 1)
    sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 1234))).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    status = (await rpc.get_signature_statuses([sig])).value[0]
    assert status is not None
    await finalized(localnet, status.slot)
    return sig, status.slot


async def block(localnet: Localnet, slot: int, config: dict | None = None) -> dict:
    reply = await raw(localnet, "getBlock", [slot, config or {}])
    assert "result" in reply, reply
    return reply["result"]


async def test_get_block_full_has_agaves_shape_and_chains_to_its_parent(rpc: AsyncClient, localnet: Localnet) -> None:
    sig, slot = await sent_transfer(rpc, localnet)
    got = await block(localnet, slot)
    assert set(got) == BLOCK_KEYS | {"rewards", "transactions"}
    assert got["rewards"] == []
    [tx] = [t for t in got["transactions"] if t["transaction"]["signatures"][0] == str(sig)]
    assert "version" not in tx  # legacy, and the client did not ask for versions
    assert tx["meta"]["err"] is None and tx["meta"]["fee"] == 5000 and tx["meta"]["logMessages"]
    assert tx["transaction"]["message"]["recentBlockhash"]

    parent = await block(localnet, got["parentSlot"], {"transactionDetails": "none"})
    assert got["parentSlot"] < slot
    assert got["previousBlockhash"] == parent["blockhash"] != got["blockhash"]
    assert got["blockHeight"] == parent["blockHeight"] + 1
    assert got["blockTime"] >= parent["blockTime"]
    assert (await raw(localnet, "getBlockTime", [slot]))["result"] == got["blockTime"]

    # The transaction's own answer agrees with its block.
    one = await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed"}])
    assert one["result"]["slot"] == slot and one["result"]["blockTime"] == got["blockTime"]


async def test_get_block_transaction_details_rewards_and_encodings(rpc: AsyncClient, localnet: Localnet) -> None:
    sig, slot = await sent_transfer(rpc, localnet)

    signatures = await block(localnet, slot, {"transactionDetails": "signatures"})
    assert set(signatures) == BLOCK_KEYS | {"rewards", "signatures"} and str(sig) in signatures["signatures"]

    none = await block(localnet, slot, {"transactionDetails": "none", "rewards": False})
    assert set(none) == BLOCK_KEYS

    accounts = await block(localnet, slot, {"transactionDetails": "accounts"})
    [tx] = [t for t in accounts["transactions"] if t["transaction"]["signatures"] == [str(sig)]]
    payer, to, system = tx["transaction"]["accountKeys"]
    assert payer == {"pubkey": payer["pubkey"], "signer": True, "writable": True, "source": "transaction"}
    assert to["signer"] is False and to["writable"] is True
    assert system == {"pubkey": "11111111111111111111111111111111", "signer": False, "writable": False, "source": "transaction"}
    # Agave's "accounts" meta leaves out logs, inner instructions and return data.
    assert set(tx["meta"]) == {"err", "fee", "postBalances", "postTokenBalances", "preBalances", "preTokenBalances", "rewards", "status"}

    for encoding, decode in (("base64", base64.b64decode), ("base58", base58.b58decode)):
        encoded = await block(localnet, slot, {"encoding": encoding, "maxSupportedTransactionVersion": 0})
        wires = [t["transaction"] for t in encoded["transactions"]]
        assert all(w[1] == encoding for w in wires)
        txs = [VersionedTransaction.from_bytes(decode(w[0])) for w in wires]
        assert sig in [t.signatures[0] for t in txs]
        assert {t["version"] for t in encoded["transactions"]} == {"legacy"}

    # The deprecated form: the encoding alone.
    legacy_form = await raw(localnet, "getBlock", [slot, "base64"])
    assert legacy_form["result"]["transactions"][0]["transaction"][1] == "base64"


async def test_get_block_of_a_v0_transaction_needs_max_supported_version(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=Pubkey.new_unique(), lamports=7))
    tx = VersionedTransaction(MessageV0.try_compile(payer.pubkey(), [ix], [], blockhash), [payer])
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    slot = (await rpc.get_signature_statuses([sig])).value[0].slot
    refused = await raw(localnet, "getBlock", [slot, {"commitment": "confirmed"}])
    assert refused["error"]["code"] == -32015
    assert "maxSupportedTransactionVersion" in refused["error"]["message"]
    got = await block(localnet, slot, {"commitment": "confirmed", "maxSupportedTransactionVersion": 0})
    assert [t["version"] for t in got["transactions"] if t["transaction"]["signatures"] == [str(sig)]] == [0]
    # Signatures alone need no version.
    assert str(sig) in (await block(localnet, slot, {"commitment": "confirmed", "transactionDetails": "signatures"}))["signatures"]


async def test_get_block_errors(localnet: Localnet) -> None:
    slot = (await raw(localnet, "getSlot", [{"commitment": "processed"}]))["result"]
    future = await raw(localnet, "getBlock", [slot + 1_000_000])
    assert future["error"] == {"code": -32004, "message": f"Block not available for slot {slot + 1_000_000}"}
    processed = await raw(localnet, "getBlock", [slot, {"commitment": "processed"}])
    assert processed["error"] == {"code": -32602, "message": "Method does not support commitment below `confirmed`"}
    # The newest slot is a block at confirmed already.
    assert (await block(localnet, slot, {"commitment": "confirmed", "transactionDetails": "none"}))["blockHeight"] > 0
    assert (await raw(localnet, "getBlock", ["ten"]))["error"]["code"] == -32602
    assert (await raw(localnet, "getBlock", [-1]))["error"]["code"] == -32602
    bad_detail = await raw(localnet, "getBlock", [0, {"transactionDetails": "everything"}])
    assert bad_detail["error"]["code"] == -32602
    assert (await raw(localnet, "getBlock", [0, {"encoding": "base64+zstd"}]))["error"]["code"] == -32602


async def test_warped_slots_are_skipped(localnet: Localnet) -> None:
    warp = await raw(localnet, "mirror_warpClock", [{"slots": 5}])
    landed = warp["result"]["slot"]
    await finalized(localnet, landed + 1)
    skipped = landed - 2
    reply = await raw(localnet, "getBlock", [skipped])
    assert reply["error"] == {"code": -32007, "message": f"Slot {skipped} was skipped, or missing due to ledger jump to recent snapshot"}
    assert (await raw(localnet, "getBlockTime", [skipped]))["error"]["code"] == -32007
    blocks = (await raw(localnet, "getBlocks", [landed - 10, landed]))["result"]
    assert landed in blocks and all(s not in blocks for s in range(landed - 4, landed))
    landed_block = await block(localnet, landed, {"transactionDetails": "none"})
    assert landed_block["parentSlot"] < landed - 4


async def test_get_blocks_and_get_blocks_with_limit(localnet: Localnet) -> None:
    root = (await raw(localnet, "getSlot", [{"commitment": "finalized"}]))["result"]
    start = max(0, root - 20)
    finalized_blocks = (await raw(localnet, "getBlocks", [start]))["result"]
    assert finalized_blocks == sorted(finalized_blocks) and finalized_blocks[-1] <= root + 2
    assert all(start <= s for s in finalized_blocks)
    confirmed = (await raw(localnet, "getBlocks", [start, {"commitment": "confirmed"}]))["result"]
    assert confirmed[-1] >= finalized_blocks[-1]
    assert (await raw(localnet, "getBlocks", [start, start + 3]))["result"] == [s for s in finalized_blocks if s <= start + 3]
    assert (await raw(localnet, "getBlocks", [root + 1000, root]))["result"] == []

    limited = (await raw(localnet, "getBlocksWithLimit", [start, 3]))["result"]
    assert limited == finalized_blocks[:3]
    assert (await raw(localnet, "getBlocksWithLimit", [start, 0]))["result"] == []

    too_wide = await raw(localnet, "getBlocks", [0, 500_001, {"commitment": "confirmed"}])
    if root < 500_001:  # the range is cut at the newest block first, as Agave does
        assert too_wide["result"][0] == 0
    assert (await raw(localnet, "getBlocksWithLimit", [0, 500_001]))["error"] == {
        "code": -32602,
        "message": "Limit too large; max 500000",
    }
    assert (await raw(localnet, "getBlocks", [0, 10, {"commitment": "processed"}]))["error"]["code"] == -32602
    assert (await raw(localnet, "getBlocks", []))["error"]["code"] == -32602
    assert (await raw(localnet, "getBlocksWithLimit", [0]))["error"]["code"] == -32602


async def test_genesis_block_first_available_and_minimum_ledger_slot(localnet: Localnet) -> None:
    assert (await raw(localnet, "getFirstAvailableBlock"))["result"] == 0
    assert (await raw(localnet, "minimumLedgerSlot"))["result"] == 0
    genesis = await block(localnet, 0)
    assert genesis["blockHeight"] == 0 and genesis["parentSlot"] == 0
    assert genesis["blockhash"] == (await raw(localnet, "getGenesisHash"))["result"]
    assert (await raw(localnet, "getBlockTime", [0]))["result"] == genesis["blockTime"]
    slot = (await raw(localnet, "getSlot", [{"commitment": "processed"}]))["result"]
    assert (await raw(localnet, "getBlockTime", [slot + 10_000]))["error"]["code"] == -32004


async def test_block_height_counts_blocks_not_slots(localnet: Localnet) -> None:
    await raw(localnet, "mirror_warpClock", [{"slots": 3}])  # two skipped slots
    confirmed = (await raw(localnet, "getBlockHeight", [{"commitment": "confirmed"}]))["result"]
    slot = (await raw(localnet, "getSlot", [{"commitment": "confirmed"}]))["result"]
    assert confirmed <= slot - 2
    newest = await block(localnet, slot, {"commitment": "confirmed", "transactionDetails": "none"})
    assert newest["blockHeight"] >= confirmed
    assert (await raw(localnet, "getBlockHeight", [{"commitment": "finalized"}]))["result"] <= confirmed
    # lastValidBlockHeight is the height the blockhash was issued at, plus 150.
    latest = (await raw(localnet, "getLatestBlockhash", [{"commitment": "confirmed"}]))["result"]["value"]
    after = (await raw(localnet, "getBlockHeight", [{"commitment": "confirmed"}]))["result"]
    assert confirmed + 150 <= latest["lastValidBlockHeight"] <= after + 150
    assert (await raw(localnet, "getBlockHeight", ["confirmed"]))["error"]["code"] == -32602


async def test_block_commitment(localnet: Localnet) -> None:
    root = (await raw(localnet, "getSlot", [{"commitment": "finalized"}]))["result"]
    rooted = (await raw(localnet, "getBlockCommitment", [max(root - 1, 0)]))["result"]
    assert rooted["commitment"] is None and rooted["totalStake"] > 0
    newest = (await raw(localnet, "getSlot", [{"commitment": "processed"}]))["result"]
    recent = (await raw(localnet, "getBlockCommitment", [newest]))["result"]
    if recent["commitment"] is not None:  # unless the slot was rooted in between
        assert len(recent["commitment"]) == 32 and sum(recent["commitment"]) == recent["totalStake"]
    assert (await raw(localnet, "getBlockCommitment", ["x"]))["error"]["code"] == -32602


async def test_block_production(localnet: Localnet) -> None:
    reply = (await raw(localnet, "getBlockProduction"))["result"]
    [(identity, (leader_slots, produced))] = reply["value"]["byIdentity"].items()
    assert Pubkey.from_string(identity)
    assert 0 < produced <= leader_slots == reply["value"]["range"]["lastSlot"] - reply["value"]["range"]["firstSlot"] + 1
    ranged = (await raw(localnet, "getBlockProduction", [{"range": {"firstSlot": 0, "lastSlot": 0}}]))["result"]["value"]
    assert ranged == {"byIdentity": {identity: [1, 1]}, "range": {"firstSlot": 0, "lastSlot": 0}}
    other = (await raw(localnet, "getBlockProduction", [{"identity": str(Keypair().pubkey())}]))["result"]["value"]
    assert other["byIdentity"] == {}
    backwards = await raw(localnet, "getBlockProduction", [{"range": {"firstSlot": 5, "lastSlot": 4}}])
    assert backwards["error"] == {"code": -32602, "message": "lastSlot, 4, cannot be less than firstSlot, 5"}
    beyond = await raw(localnet, "getBlockProduction", [{"range": {"firstSlot": 0, "lastSlot": 10**12}}])
    assert beyond["error"]["code"] == -32602 and "is too large" in beyond["error"]["message"]
    assert (await raw(localnet, "getBlockProduction", [{"identity": "nope"}]))["error"]["code"] == -32602


async def test_blocks_survive_a_restart_and_lost_slots_are_skipped(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50, finality_depth=2)
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            sig, slot = await sent_transfer(client, node)
            before = await block(node, slot)
            last_before = (await raw(node, "getSlot", [{"commitment": "processed"}]))["result"]
        node.kill()
        node.bootstrap = False
        node.start()
        async with AsyncClient(node.rpc_url) as client:
            assert await block(node, slot) == before
            blocks = (await raw(node, "getBlocks", [last_before, None, {"commitment": "confirmed"}]))["result"]
            gaps = [(a, b) for a, b in itertools.pairwise(blocks) if b - a > 1]
            assert gaps, "the node resumes past the slots it may have served unrecorded"
            last_old, first_after = gaps[0]
            assert first_after - last_old > 16
            resumed = await block(node, first_after, {"commitment": "confirmed", "transactionDetails": "none"})
            assert resumed["parentSlot"] == last_old
            parent = await block(node, last_old, {"commitment": "confirmed", "transactionDetails": "none"})
            assert resumed["previousBlockhash"] == parent["blockhash"]
            assert resumed["blockHeight"] == parent["blockHeight"] + 1
            await finalized(node, first_after)
            gap = await raw(node, "getBlock", [first_after - 1])
            assert gap["error"]["code"] == -32007
            assert (await client.get_transaction(sig, commitment=Confirmed)).value is not None
    finally:
        node.stop()


async def test_limit_ledger_size_keeps_the_newest_blocks(tmp_path: Path) -> None:
    """--limit-ledger-size N: only the newest N blocks and their transactions stay
    in memory; older ones answer Agave's "cleaned up" error; counts stay whole, and
    a restart on the same ledger applies the same limit."""
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=20, finality_depth=1, extra_args=("--limit-ledger-size", "30"))
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            sig, slot = await sent_transfer(client, node)
            count = (await raw(node, "getTransactionCount", [{"commitment": "confirmed"}]))["result"]
            await finalized(node, slot + 60)
            first = (await raw(node, "getFirstAvailableBlock"))["result"]
            assert first > slot
            blocks = (await raw(node, "getBlocks", [0]))["result"]
            assert blocks[0] >= first and len(blocks) <= 32  # the window moves on as slots pass
            gone = await raw(node, "getBlock", [slot])
            assert gone["error"]["code"] == -32001
            prefix = f"Block {slot} cleaned up, does not exist on node. First available block: "
            assert gone["error"]["message"].startswith(prefix) and int(gone["error"]["message"][len(prefix) :]) >= first
            assert (await raw(node, "getTransaction", [str(sig), {"commitment": "confirmed"}]))["result"] is None
            assert (await raw(node, "getTransactionCount", [{"commitment": "confirmed"}]))["result"] >= count
            assert (await raw(node, "minimumLedgerSlot"))["result"] >= first
        node.stop()
        node.bootstrap = False
        node.start()
        assert (await raw(node, "getBlock", [slot]))["error"]["code"] == -32001
        assert len((await raw(node, "getBlocks", [0, None, {"commitment": "confirmed"}]))["result"]) <= 32
    finally:
        node.stop()
