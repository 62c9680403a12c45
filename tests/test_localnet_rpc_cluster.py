"""The one-node cluster in Agave's shapes: the node is the cluster node, the leader of
every slot and the only voter; supply, inflation and the epoch schedule are real
figures; fees, statuses with searchTransactionHistory, and rootSubscribe and
blockSubscribe. Each method also gets at least one bad input and Agave's error."""

from __future__ import annotations

import asyncio
import base64
import json
from urllib.parse import urlparse

import websockets
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction

from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_rpc import raw, transfer_tx

SLOTS_PER_EPOCH = 432_000


async def result(localnet: Localnet, method: str, params: list | None = None) -> object:
    reply = await raw(localnet, method, params)
    assert "result" in reply, reply
    return reply["result"]


async def error(localnet: Localnet, method: str, params: list | None = None) -> dict:
    reply = await raw(localnet, method, params)
    assert "error" in reply, reply
    return reply["error"]


async def test_identity_cluster_nodes_and_leaders(localnet: Localnet) -> None:
    identity = (await result(localnet, "getIdentity"))["identity"]
    Pubkey.from_string(identity)
    [node] = await result(localnet, "getClusterNodes")
    assert node["pubkey"] == identity
    assert node["rpc"] == urlparse(localnet.rpc_url).netloc
    assert node["pubsub"] == urlparse(localnet.ws_url).netloc
    assert node["version"] == (await result(localnet, "getVersion"))["solana-core"]
    assert set(node) >= {"gossip", "tpu", "tpuQuic", "featureSet", "shredVersion"}

    assert await result(localnet, "getSlotLeader") == identity
    assert await result(localnet, "getSlotLeader", [{"commitment": "processed"}]) == identity
    assert await result(localnet, "getSlotLeaders", [0, 3]) == [identity] * 3
    assert await result(localnet, "getSlotLeaders", [5, 0]) == []
    assert (await error(localnet, "getSlotLeaders", [0, 5001])) == {"code": -32602, "message": "Invalid limit; max 5000"}
    far = await error(localnet, "getSlotLeaders", [SLOTS_PER_EPOCH * 10, 1])
    assert far["code"] == -32602 and "leader schedule for epoch" in far["message"]
    assert (await error(localnet, "getSlotLeaders", [0]))["code"] == -32602
    too_late = await error(localnet, "getSlotLeader", [{"minContextSlot": 10**12}])
    assert too_late["code"] == -32016

    schedule = await result(localnet, "getLeaderSchedule")
    assert list(schedule) == [identity] and len(schedule[identity]) == SLOTS_PER_EPOCH
    assert schedule[identity][:3] == [0, 1, 2]
    assert await result(localnet, "getLeaderSchedule", [None, {"identity": str(Pubkey.new_unique())}]) == {}
    assert list(await result(localnet, "getLeaderSchedule", [{"identity": identity}])) == [identity]
    assert await result(localnet, "getLeaderSchedule", [SLOTS_PER_EPOCH * 5]) is None
    assert (await error(localnet, "getLeaderSchedule", [None, {"identity": "nope"}]))["code"] == -32602


async def test_vote_accounts_and_stake(localnet: Localnet) -> None:
    identity = (await result(localnet, "getIdentity"))["identity"]
    votes = await result(localnet, "getVoteAccounts")
    assert votes["delinquent"] == []
    [vote] = votes["current"]
    assert vote["nodePubkey"] == identity and vote["votePubkey"] != identity
    assert vote["activatedStake"] == 1_000_000 * 10**9 and vote["epochVoteAccount"] is True
    assert set(vote) == {
        "votePubkey",
        "nodePubkey",
        "activatedStake",
        "commission",
        "epochVoteAccount",
        "epochCredits",
        "lastVote",
        "rootSlot",
    }
    assert vote["rootSlot"] <= vote["lastVote"]
    commitment = await result(localnet, "getBlockCommitment", [0])
    assert commitment["totalStake"] == vote["activatedStake"]
    only = await result(localnet, "getVoteAccounts", [{"votePubkey": vote["votePubkey"]}])
    assert [v["votePubkey"] for v in only["current"]] == [vote["votePubkey"]]
    assert (await result(localnet, "getVoteAccounts", [{"votePubkey": str(Pubkey.new_unique())}]))["current"] == []
    assert (await error(localnet, "getVoteAccounts", [{"votePubkey": "x"}]))["code"] == -32602

    minimum = await result(localnet, "getStakeMinimumDelegation")
    assert minimum["value"] == 10**9 and minimum["context"]["slot"] >= 0
    assert (await error(localnet, "getStakeMinimumDelegation", ["finalized"]))["code"] == -32602


async def test_epoch_schedule_inflation_and_supply(rpc: AsyncClient, localnet: Localnet) -> None:
    schedule = await result(localnet, "getEpochSchedule")
    assert schedule == {
        "slotsPerEpoch": SLOTS_PER_EPOCH,
        "leaderScheduleSlotOffset": SLOTS_PER_EPOCH,
        "warmup": False,
        "firstNormalEpoch": 0,
        "firstNormalSlot": 0,
    }
    epoch = await result(localnet, "getEpochInfo")
    assert epoch["slotsInEpoch"] == schedule["slotsPerEpoch"]

    governor = await result(localnet, "getInflationGovernor")
    assert governor == {"initial": 0.08, "terminal": 0.015, "taper": 0.15, "foundation": 0.05, "foundationTerm": 7.0}
    rate = await result(localnet, "getInflationRate")
    assert rate["epoch"] == epoch["epoch"]
    assert abs(rate["total"] - (rate["validator"] + rate["foundation"])) < 1e-12
    if rate["epoch"] == 0:
        assert (rate["total"], rate["foundation"]) == (0.08, 0.08 * 0.05)

    # The first epoch has no reward block yet: Agave's answer names the slot it needs.
    someone = str(Pubkey.new_unique())
    if epoch["epoch"] == 0:
        assert await error(localnet, "getInflationReward", [[someone]]) == {
            "code": -32004,
            "message": f"Block not available for slot {SLOTS_PER_EPOCH}",
        }
    assert (await error(localnet, "getInflationReward", [["bad"]]))["code"] == -32602
    assert (await error(localnet, "getInflationReward", []))["code"] == -32602

    payer = await funded(rpc, 3)
    supply = (await result(localnet, "getSupply", [{"commitment": "confirmed"}]))["value"]
    assert supply["total"] == supply["circulating"] >= 500_000_000 * 10**9 - 10**12
    assert supply["nonCirculating"] == 0 and supply["nonCirculatingAccounts"] == []
    largest = await result(localnet, "getLargestAccounts", [{"commitment": "confirmed"}])
    balances = [a["lamports"] for a in largest["value"]]
    assert len(balances) <= 20 and balances == sorted(balances, reverse=True)
    assert balances[0] <= supply["total"]
    assert str(payer.pubkey()) in {a["address"] for a in largest["value"]} or balances[-1] >= 3 * 10**9
    non_circulating = await result(localnet, "getLargestAccounts", [{"filter": "nonCirculating"}])
    assert non_circulating["value"] == []
    assert (await error(localnet, "getLargestAccounts", [{"filter": "everyone"}]))["code"] == -32602
    assert (await error(localnet, "getSupply", ["yes"]))["code"] == -32602


async def test_snapshot_retransmit_shred_and_counts(rpc: AsyncClient, localnet: Localnet) -> None:
    assert await error(localnet, "getHighestSnapshotSlot") == {"code": -32008, "message": "No snapshot"}
    slot = await result(localnet, "getSlot", [{"commitment": "processed"}])
    assert await result(localnet, "getMaxRetransmitSlot") >= slot
    assert await result(localnet, "getMaxShredInsertSlot") >= slot

    before = await result(localnet, "getTransactionCount", [{"commitment": "confirmed"}])
    payer = await funded(rpc, 1)
    sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 5))).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    after = await result(localnet, "getTransactionCount", [{"commitment": "confirmed"}])
    assert after >= before + 2  # the airdrop and the transfer
    assert await result(localnet, "getTransactionCount") <= after  # finalized lags
    assert (await error(localnet, "getTransactionCount", [{"minContextSlot": 10**12}]))["code"] == -32016

    samples = await result(localnet, "getRecentPerformanceSamples", [3])
    assert 1 <= len(samples) <= 3
    newest = samples[0]
    assert set(newest) == {"slot", "numTransactions", "numNonVoteTransactions", "numSlots", "samplePeriodSecs"}
    assert newest["samplePeriodSecs"] == 60 and newest["numTransactions"] >= 2 and newest["numSlots"] >= 1
    assert [s["slot"] for s in samples] == sorted((s["slot"] for s in samples), reverse=True)
    assert await error(localnet, "getRecentPerformanceSamples", [721]) == {"code": -32602, "message": "Invalid limit; max 720"}


async def test_fees_and_recent_prioritization_fees(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    to = Pubkey.new_unique()
    tx = await transfer_tx(rpc, payer, to, 9)
    fee = await result(localnet, "getFeeForMessage", [base64.b64encode(bytes(tx.message)).decode()])
    assert fee["value"] == 5000
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    charged = (await rpc.get_transaction(sig, commitment=Confirmed)).value.transaction.meta.fee
    assert charged == fee["value"]

    fees = await result(localnet, "getRecentPrioritizationFees", [[str(to)]])
    assert 1 <= len(fees) <= 150
    assert all(set(f) == {"slot", "prioritizationFee"} and f["prioritizationFee"] == 0 for f in fees)
    assert [f["slot"] for f in fees] == sorted(f["slot"] for f in fees)
    assert fees[-1]["slot"] <= await result(localnet, "getSlot")  # finalized blocks only
    assert await result(localnet, "getRecentPrioritizationFees") != []
    too_many = [str(Pubkey.new_unique()) for _ in range(129)]
    assert await error(localnet, "getRecentPrioritizationFees", [too_many]) == {
        "code": -32602,
        "message": "Too many inputs provided; max 128",
    }
    assert (await error(localnet, "getRecentPrioritizationFees", [["nope"]]))["code"] == -32602


async def test_signature_statuses_search_transaction_history() -> None:
    """Statuses of old transactions leave the status cache (300 roots); only
    searchTransactionHistory finds them, finalized."""
    node = Localnet(slot_ms=5, finality_depth=1)
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            payer = await funded(client, 1)
            sig = (await client.send_transaction(await transfer_tx(client, payer, Pubkey.new_unique(), 3))).value
            await client.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.02)
            assert (await client.get_signature_statuses([sig])).value[0] is not None
            await raw(node, "mirror_warpClock", [{"slots": 400}])
            await asyncio.sleep(0.2)
            assert (await client.get_signature_statuses([sig])).value[0] is None
            found = (await client.get_signature_statuses([sig], search_transaction_history=True)).value[0]
            assert (
                found is not None
                and found.confirmations is None
                and str(found.confirmation_status) == "TransactionConfirmationStatus.Finalized"
            )
            bad = await raw(node, "getSignatureStatuses", [[str(sig)], {"searchTransactionHistory": "yes"}])
            assert bad["error"]["code"] == -32602
    finally:
        node.stop()


async def recv_notification(ws: websockets.ClientConnection, method: str, timeout: float = 10.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message.get("method") == method:
                return message["params"]


async def test_root_subscribe(localnet: Localnet) -> None:
    async with websockets.connect(localnet.ws_url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "rootSubscribe"}))
        sub = json.loads(await ws.recv())["result"]
        first = await recv_notification(ws, "rootNotification")
        second = await recv_notification(ws, "rootNotification")
        assert first["subscription"] == sub and isinstance(first["result"], int)
        assert second["result"] > first["result"]
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "rootUnsubscribe", "params": [sub]}))
        while (reply := json.loads(await ws.recv())).get("id") != 2:
            pass
        assert reply["result"] is True
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "rootUnsubscribe", "params": [sub]}))
        while (reply := json.loads(await ws.recv())).get("id") != 3:
            pass
        assert reply["error"] == {"code": -32602, "message": "Invalid subscription id."}


async def test_block_subscribe(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    to = Keypair().pubkey()
    async with websockets.connect(localnet.ws_url) as ws:
        params = [
            {"mentionsAccountOrProgram": str(to)},
            {"commitment": "confirmed", "encoding": "json", "transactionDetails": "signatures", "showRewards": True},
        ]
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "blockSubscribe", "params": params}))
        sub = json.loads(await ws.recv())["result"]
        sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, to, 11))).value
        note = await recv_notification(ws, "blockNotification")
        assert note["subscription"] == sub
        value = note["result"]["value"]
        assert value["err"] is None and value["slot"] == note["result"]["context"]["slot"]
        assert value["block"]["signatures"] == [str(sig)]  # only the transactions that mention the account
        assert value["block"]["rewards"] == []
        got = await raw(localnet, "getBlock", [value["slot"], {"commitment": "confirmed", "transactionDetails": "none"}])
        assert got["result"]["blockhash"] == value["block"]["blockhash"]

        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 2,
                    "method": "blockSubscribe",
                    "params": ["all", {"commitment": "finalized", "transactionDetails": "none"}],
                }
            )
        )
        while "result" not in (reply := json.loads(await ws.recv())) or reply.get("id") != 2:
            pass
        every = reply["result"]
        first = await recv_notification(ws, "blockNotification")
        while first["subscription"] != every:
            first = await recv_notification(ws, "blockNotification")
        assert set(first["result"]["value"]["block"]) == {"blockHeight", "blockTime", "blockhash", "parentSlot", "previousBlockhash"}

        for bad, code in (
            (["all", {"commitment": "processed"}], -32602),
            (["some"], -32602),
            ([{"mentionsAccountOrProgram": "zz"}], -32602),
        ):
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 9, "method": "blockSubscribe", "params": bad}))
            while (reply := json.loads(await ws.recv())).get("id") != 9:
                pass
            assert reply["error"]["code"] == code, bad


async def priced_transfer(rpc: AsyncClient, payer: Keypair, to: Pubkey, lamports: int, limit: int, price: int) -> VersionedTransaction:
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    ixs = [
        set_compute_unit_limit(limit),
        set_compute_unit_price(price),
        transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=lamports)),
    ]
    return VersionedTransaction.from_legacy(Transaction([payer], Message(ixs, payer.pubkey()), blockhash))


async def test_compute_budget_priority_fees(rpc: AsyncClient, localnet: Localnet) -> None:
    """The unit price is charged as a priority fee (price x limit, rounded up), the fee
    getFeeForMessage names is the fee a send is charged, the unit limit is enforced,
    and getRecentPrioritizationFees reports the price the block's writers paid."""
    payer = await funded(rpc, 1)
    to = Pubkey.new_unique()
    tx = await priced_transfer(rpc, payer, to, 1_000, limit=10_000, price=1_500_000)
    quoted = await result(localnet, "getFeeForMessage", [base64.b64encode(bytes(tx.message)).decode(), {"commitment": "processed"}])
    assert quoted["value"] == 5_000 + 15_000
    before = (await rpc.get_balance(payer.pubkey(), Confirmed)).value
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    meta = (await rpc.get_transaction(sig, commitment=Confirmed)).value.transaction.meta
    assert meta.fee == quoted["value"]
    assert meta.pre_balances[0] - meta.post_balances[0] == quoted["value"] + 1_000
    assert (await rpc.get_balance(payer.pubkey(), Confirmed)).value == before - quoted["value"] - 1_000

    slot = (await rpc.get_signature_statuses([sig])).value[0].slot
    for _ in range(100):
        fees = await result(localnet, "getRecentPrioritizationFees", [[str(to)]])
        if any(f["slot"] == slot for f in fees):
            break
        await asyncio.sleep(0.05)
    assert {f["slot"]: f["prioritizationFee"] for f in fees}[slot] == 1_500_000
    others = await result(localnet, "getRecentPrioritizationFees", [[str(Pubkey.new_unique())]])
    assert {f["slot"]: f["prioritizationFee"] for f in others}.get(slot) == 0

    # The limit is enforced: the three instructions need 450 units.
    starved = await priced_transfer(rpc, payer, to, 1, limit=100, price=0)
    refused = await raw(localnet, "sendTransaction", [base64.b64encode(bytes(starved)).decode(), {"encoding": "base64"}])
    assert refused["error"]["code"] == -32002
    assert "Computational budget exceeded" in " ".join(refused["error"]["data"]["logs"])

    # A payer that holds the signature fee but not the priority fee is refused before execution.
    poor = Keypair()
    await rpc.request_airdrop(poor.pubkey(), 100_000)
    await asyncio.sleep(0.3)
    expensive = await priced_transfer(rpc, poor, to, 1, limit=1_000_000, price=1_000_000)
    broke = await raw(localnet, "sendTransaction", [base64.b64encode(bytes(expensive)).decode(), {"encoding": "base64"}])
    assert broke["error"]["code"] == -32002 and broke["error"]["data"]["err"] == "InsufficientFundsForFee"
    assert (await rpc.get_balance(poor.pubkey(), Confirmed)).value == 100_000
