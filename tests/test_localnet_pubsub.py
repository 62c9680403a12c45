"""PubSub of mirror-localnet through solana-py's websocket client: every
subscription kind, unsubscribes, commitment, and clients that misbehave."""

from __future__ import annotations

import asyncio
import json

import websockets
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Finalized
from solana.rpc.websocket_api import RpcTransactionLogsFilterMentions, SolanaWsClient
from solders.pubkey import Pubkey

from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_rpc import raw, transfer_tx

TIMEOUT = 10


async def test_logs_subscribe_mentions(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()), commitment=Confirmed)
        sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 7))).value
        note = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert note.subscription == sub.subscription_id
        assert note.result.value.signature == sig
        assert note.result.value.err is None
        assert note.result.value.logs[0] == "Program 11111111111111111111111111111111 invoke [1]"
        await ws.unsubscribe(sub)


async def test_logs_subscribe_all_and_finalized_arrives_later(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    async with SolanaWsClient(localnet.ws_url) as ws:
        confirmed = await ws.logs_subscribe(commitment=Confirmed)
        finalized = await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()), commitment=Finalized)
        sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 9))).value
        seen: dict[int, object] = {}
        while len(seen) < 2:
            note = await asyncio.wait_for(ws.recv(), TIMEOUT)
            if note.result.value.signature == sig:
                seen.setdefault(note.subscription, note.result.context.slot)
        assert set(seen) == {confirmed.subscription_id, finalized.subscription_id}
        status = (await rpc.get_signature_statuses([sig])).value[0]
        assert status is not None and status.confirmations is None  # finalized by the time it was notified


async def test_account_subscribe(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    target = Pubkey.new_unique()
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.account_subscribe(pubkey=target, commitment=Confirmed, encoding="base64")
        await rpc.send_transaction(await transfer_tx(rpc, payer, target, 2_000_000))
        note = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert note.subscription == sub.subscription_id
        assert note.result.value.lamports == 2_000_000
        assert note.result.value.owner == Pubkey.default()
        await ws.unsubscribe(sub)


async def test_program_subscribe_sees_system_accounts(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    target = Pubkey.new_unique()
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.program_subscribe(program_id=Pubkey.default(), commitment=Confirmed, encoding="base64", filters=[0])
        await rpc.send_transaction(await transfer_tx(rpc, payer, target, 3_000_000))
        keys = set()
        while target not in keys:
            note = await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert note.subscription == sub.subscription_id
            keys.add(note.result.value.pubkey)
        await ws.unsubscribe(sub)


async def test_signature_subscribe_before_and_after(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    tx = await transfer_tx(rpc, payer, Pubkey.new_unique(), 11)
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)
        await rpc.send_transaction(tx)
        note = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert note.subscription == sub.subscription_id and note.result.value.err is None
        # Already confirmed: the notification comes straight away.
        again = await ws.signature_subscribe(signature=tx.signatures[0], commitment=Confirmed)
        note = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert note.subscription == again.subscription_id


async def test_slot_subscribe(localnet: Localnet) -> None:
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.slot_subscribe()
        first = await asyncio.wait_for(ws.recv(), TIMEOUT)
        second = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert first.subscription == sub.subscription_id
        assert second.result.slot == first.result.slot + 1
        assert second.result.parent == first.result.slot
        assert second.result.root <= second.result.slot
        await ws.unsubscribe(sub)


async def test_unsubscribe_unknown_id_and_bad_requests(localnet: Localnet) -> None:
    async with websockets.connect(localnet.ws_url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "logsUnsubscribe", "params": [987654]}))
        reply = json.loads(await ws.recv())
        assert reply["error"] == {"code": -32602, "message": "Invalid subscription id."}
        await ws.send("not json")
        assert json.loads(await ws.recv())["error"]["code"] == -32700
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "fooSubscribe", "params": []}))
        assert json.loads(await ws.recv())["error"]["code"] == -32601
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "logsSubscribe", "params": [{"mentions": ["a", "b"]}]}))
        assert json.loads(await ws.recv())["error"]["message"] == "Invalid Request: Only 1 address supported"
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "accountSubscribe", "params": ["zzz"]}))
        assert json.loads(await ws.recv())["error"]["code"] == -32602


async def test_clients_that_vanish_or_never_read_cost_nothing(rpc: AsyncClient, localnet: Localnet) -> None:
    """One client drops mid-stream, another subscribes to everything and never reads;
    the node keeps serving others and stays responsive."""
    vanishing = await websockets.connect(localnet.ws_url)
    await vanishing.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "slotSubscribe"}))
    await vanishing.recv()
    vanishing.transport.abort()  # no close frame

    # A stalled reader: its library stops reading the socket once one message is queued.
    stalled = await websockets.connect(localnet.ws_url, max_queue=1)
    for i, method in enumerate(["slotSubscribe", "logsSubscribe"]):
        params = [] if method == "slotSubscribe" else ["all", {"commitment": "confirmed"}]
        await stalled.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))

    payer = await funded(rpc, 5)
    for _ in range(30):
        await rpc.send_transaction(await transfer_tx(rpc, payer, Pubkey.new_unique(), 1))
    async with SolanaWsClient(localnet.ws_url) as ws:
        sub = await ws.slot_subscribe()
        note = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert note.subscription == sub.subscription_id
    assert (await raw(localnet, "getHealth"))["result"] == "ok"
    stalled.transport.abort()
