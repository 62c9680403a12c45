"""`--ledger DIR` survives SIGTERM and SIGKILL: after a restart every account,
signature, transaction and log that the node acknowledged is there."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.exceptions import SolanaRpcException
from solana.rpc.core import RPCException
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from mirror_common import codec
from mirror_common.localnet import Localnet
from tests.conftest import LAMPORTS_PER_SOL
from tests.test_localnet_rpc import transfer_tx


async def fund(client: AsyncClient, n: int) -> list[Keypair]:
    payers = [Keypair() for _ in range(n)]
    sigs = [(await client.request_airdrop(p.pubkey(), 10 * LAMPORTS_PER_SOL)).value for p in payers]
    for sig in sigs:
        await client.confirm_transaction(sig, Confirmed, sleep_seconds=0.05)
    return payers


async def test_ledger_survives_sigkill_under_load(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50, finality_depth=2, log_path=tmp_path / "node.log")
    node.start()
    acknowledged: list[tuple[Signature, Pubkey, int]] = []
    target = Pubkey.new_unique()
    async with AsyncClient(node.rpc_url) as client:
        genesis = (await client.get_genesis_hash()).value
        payers = await fund(client, 4)

        async def sender(payer: Keypair, start: int) -> None:
            amount = start
            while True:
                amount += 1
                try:
                    tx = await transfer_tx(client, payer, target, amount)
                    sig = (await client.send_transaction(tx)).value
                except (httpx.HTTPError, RPCException, SolanaRpcException, OSError):
                    return  # the node is gone
                acknowledged.append((sig, target, amount))

        senders = [asyncio.create_task(sender(p, i * 1_000_000)) for i, p in enumerate(payers)]
        await asyncio.sleep(1.5)
        slot_before_kill = (await client.get_slot(Confirmed)).value
        node.process.send_signal(signal.SIGKILL)  # mid-stream, senders still going
        await asyncio.gather(*senders)
        node.process.wait()
    assert len(acknowledged) > 20, "the load did not get going"

    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            assert (await client.get_genesis_hash()).value == genesis
            assert (await client.get_slot(Confirmed)).value > slot_before_kill, "the slot must never go back"
            sigs = [s for s, _, _ in acknowledged]
            for i in range(0, len(sigs), 200):
                statuses = (await client.get_signature_statuses(sigs[i : i + 200])).value
                missing = [str(s) for s, st in zip(sigs[i : i + 200], statuses) if st is None]
                assert not missing, f"acknowledged but lost after SIGKILL: {missing[:5]}"
            tx = (await client.get_transaction(sigs[-1], commitment=Confirmed)).value
            assert tx is not None and tx.transaction.meta.log_messages
            # Account state agrees with the recorded history: the balance is the sum of
            # the transfers the ledger holds (acknowledged ones, plus any written but
            # not yet answered when the process died).
            history = (await client.get_signatures_for_address(target, limit=1000)).value
            assert {s.signature for s in history} >= set(sigs)
            total = 0
            for entry in history:
                got = (await client.get_transaction(entry.signature, commitment=Confirmed)).value
                keys = got.transaction.transaction.message.account_keys
                idx = keys.index(target)
                total += got.transaction.meta.post_balances[idx] - got.transaction.meta.pre_balances[idx]
            assert (await client.get_balance(target, Confirmed)).value == total
            # The node carries on from where it was.
            payer = payers[0]
            sig = (await client.send_transaction(await transfer_tx(client, payer, target, 1))).value
            await client.confirm_transaction(sig, Confirmed, sleep_seconds=0.05)
    finally:
        node.stop()


async def test_ledger_survives_sigterm_with_program_state(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50, finality_depth=2)
    node.start()
    async with AsyncClient(node.rpc_url) as client:
        await asyncio.sleep(1.0)  # ~20 empty slots after the bootstrap transactions
        before_slot = (await client.get_slot(Confirmed)).value
        accounts_before = {
            str(a.pubkey): bytes(a.account.data)
            for a in (await client.get_program_accounts(codec.default_codec().program_id, Confirmed, encoding="base64")).value
        }
        assert accounts_before, "bootstrap should have created Config and the dev Trainer"
    assert node.stop(signal.SIGTERM) == 0
    node.bootstrap = False  # nothing may be re-created: it must all come back from the ledger
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            assert (await client.get_slot(Confirmed)).value > before_slot, "the slot must never go back"
            after = {
                str(a.pubkey): bytes(a.account.data)
                for a in (await client.get_program_accounts(codec.default_codec().program_id, Confirmed, encoding="base64")).value
            }
            assert after == accounts_before
    finally:
        node.stop()


def test_torn_tail_is_cut_off(tmp_path: Path) -> None:
    """A record half-written by a crash (never acknowledged) is dropped at replay."""
    ledger = tmp_path / "ledger"
    with Localnet(ledger_dir=ledger, slot_ms=50):
        pass
    log = ledger / "ledger.log"
    intact = log.stat().st_size
    with log.open("ab") as f:
        f.write(b"\x40\x00\x00\x00\xde\xad\xbe\xefpartial")
    with Localnet(ledger_dir=ledger, slot_ms=50, bootstrap=False) as node:
        reply = httpx.post(node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getHealth"}).json()
        assert reply["result"] == "ok"
    assert log.stat().st_size >= intact


async def test_with_a_ledger_notifications_follow_durability(tmp_path: Path) -> None:
    """Subscribers hear of a transaction only once its record is fsync'd (so a crash
    cannot take back something an indexer already stored); they do hear of it."""
    from solana.rpc.websocket_api import RpcTransactionLogsFilterMentions, SolanaWsClient

    with Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50) as node:
        async with AsyncClient(node.rpc_url) as client, SolanaWsClient(node.ws_url) as ws:
            (payer,) = await fund(client, 1)
            await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(payer.pubkey()), commitment=Confirmed)
            sig = (await client.send_transaction(await transfer_tx(client, payer, Pubkey.new_unique(), 5))).value
            note = await asyncio.wait_for(ws.recv(), 10)
            assert note.result.value.signature == sig
