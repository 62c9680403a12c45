"""With `--ledger`, transaction history is served from the ledger file: memory keeps
an index and the newest bodies executed since the start, and a restart keeps no body
at all. So every history read after a restart comes from disk, and must equal what the
node served live: getTransaction (json, jsonParsed, base64, token balances included),
getSignaturesForAddress pages (before/until) and getBlock."""

from __future__ import annotations

from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solders.pubkey import Pubkey

from mirror_common.localnet import Localnet
from tests.test_localnet_rpc import raw, transfer_tx
from tests.test_localnet_rpc_tokens import token_setup


async def served(node: Localnet, signatures: list[str], address: str, token_account: str) -> dict:
    """Everything the node serves about this history, finalized."""
    fin = {"commitment": "finalized"}
    out: dict = {"transactions": {}, "pages": {}}
    for sig in signatures:
        out["transactions"][sig] = [
            (await raw(node, "getTransaction", [sig, {**fin, "encoding": encoding, "maxSupportedTransactionVersion": 0}]))["result"]
            for encoding in ("json", "jsonParsed", "base64")
        ]
    for who in (address, token_account):
        pages, before = [], None
        while True:
            config = {**fin, "limit": 4, **({"before": before} if before else {})}
            page = (await raw(node, "getSignaturesForAddress", [who, config]))["result"]
            if not page:
                break
            pages.append(page)
            before = page[-1]["signature"]
        newest = [s["signature"] for p in pages for s in p]
        until = (await raw(node, "getSignaturesForAddress", [who, {**fin, "before": newest[1], "until": newest[-2]}]))["result"]
        out["pages"][who] = (pages, until)
    slot = out["transactions"][signatures[-1]][0]["slot"]
    out["block"] = (await raw(node, "getBlock", [slot, {**fin, "encoding": "jsonParsed", "maxSupportedTransactionVersion": 0}]))["result"]
    return out


async def test_history_read_back_from_the_ledger_equals_what_was_served_live(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50)
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            payer, _mint, _alice, _bob, ata_a, _delegate = await token_setup(client)
            target = Pubkey.new_unique()
            sigs = []
            for amount in range(1, 11):
                sig = (await client.send_transaction(await transfer_tx(client, payer, target, 1_000_000 + amount))).value
                sigs.append(sig)
            await client.confirm_transaction(sigs[-1], Finalized, sleep_seconds=0.05)
            token_sigs = [s.signature for s in (await client.get_signatures_for_address(ata_a, commitment=Finalized)).value]
            signatures = [str(s) for s in token_sigs + sigs]
            live = await served(node, signatures, str(target), str(ata_a))
        assert all(all(t is not None for t in encoded) for encoded in live["transactions"].values())
        assert any(live["transactions"][str(s)][0]["meta"]["postTokenBalances"] for s in token_sigs)
        assert [len(p) for p in live["pages"][str(target)][0]] == [4, 4, 2]
        assert len(live["pages"][str(target)][1]) == 6  # between the 2nd and the 9th newest
        assert len(live["block"]["transactions"]) >= 1

        node.kill()
        node.bootstrap = False
        node.start()
        after = await served(node, signatures, str(target), str(ata_a))
        assert after["transactions"] == live["transactions"]
        assert after["pages"] == live["pages"]
        assert after["block"] == live["block"]
    finally:
        node.stop()
