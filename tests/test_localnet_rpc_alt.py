"""Versioned (v0) transactions that load accounts through address lookup tables, answered as
solana-test-validator answers them.

tests/js/alt_check.mjs drives the node with @solana/web3.js v1 unchanged (createLookupTable +
extendLookupTable, a slot's wait, a VersionedTransaction compiled with compileToV0Message([table]) that
pays an account only the table names, simulate/getFeeForMessage, logsSubscribe mentioning the loaded
address, getTransaction/getParsedTransaction, getSignaturesForAddress, a bad index in preflight). This
file then reads the same history over raw JSON-RPC (loadedAddresses, accountKeys with source
"lookupTable", -32015 without maxSupportedTransactionVersion, getBlock), checks the errors of lookups that
do not resolve, and reads it all again after a SIGKILL and a restart on the same ledger; then
tests/js/kit_alt_check.mjs sends a @solana/kit message compressed with the same table.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from mirror_common.localnet import Localnet
from tests.test_js_client import pytestmark, run_script

__all__ = ["pytestmark"]  # skipped without Node.js, like the other web3.js checks

ALT_PROGRAM = "AddressLookupTab1e1111111111111111111111111"
UNSUPPORTED_VERSION = -32015
INVALID_PARAMS = -32602


def call(node: Localnet, method: str, params: list[Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    reply: dict[str, Any] = httpx.post(node.rpc_url, json=body, timeout=10).json()
    return reply


def history(node: Localnet, summary: dict[str, Any]) -> dict[str, Any]:
    """What the node serves about the lookup table's transactions, finalized."""
    fin = {"commitment": "finalized", "maxSupportedTransactionVersion": 0}
    transfer_sig, create_sig = summary["transferSignature"], summary["createSignature"]
    out: dict[str, Any] = {
        encoding: call(node, "getTransaction", [transfer_sig, {**fin, "encoding": encoding}])["result"]
        for encoding in ("json", "jsonParsed", "base64")
    }
    out["create"] = call(node, "getTransaction", [create_sig, {**fin, "encoding": "jsonParsed"}])["result"]
    out["without_version"] = call(node, "getTransaction", [transfer_sig, {"commitment": "finalized"}])["error"]
    slot = out["json"]["slot"]
    out["block_accounts"] = call(node, "getBlock", [slot, {**fin, "transactionDetails": "accounts"}])["result"]
    out["block_without_version"] = call(node, "getBlock", [slot, {"commitment": "finalized"}])["error"]
    out["signatures"] = {
        who: [s["signature"] for s in call(node, "getSignaturesForAddress", [summary[who], {"commitment": "finalized"}])["result"]]
        for who in ("loadedRecipient", "loadedReadonly", "table")
    }
    return out


def wait_finalized(node: Localnet, signature: str) -> None:
    for _ in range(200):
        status = call(node, "getSignatureStatuses", [[signature]])["result"]["value"][0]
        if status and status["confirmationStatus"] == "finalized":
            return
        time.sleep(0.05)
    raise AssertionError(f"{signature} not finalized")


def v0_transfer(node: Localnet, payer: Keypair, table: AddressLookupTableAccount, to: Pubkey) -> VersionedTransaction:
    blockhash = Hash.from_string(call(node, "getLatestBlockhash", [])["result"]["value"]["blockhash"])
    ix = transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=to, lamports=1_000_000))
    message = MessageV0.try_compile(payer.pubkey(), [ix], [table], blockhash)
    return VersionedTransaction(message, [payer])


def encoded(tx: VersionedTransaction) -> list[Any]:
    return [base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"}]


def check_history(got: dict[str, Any], summary: dict[str, Any]) -> None:
    recipient, readonly, payer = summary["loadedRecipient"], summary["loadedReadonly"], summary["payer"]
    json_tx = got["json"]
    assert json_tx["version"] == 0
    assert json_tx["meta"]["loadedAddresses"] == {"writable": [recipient], "readonly": [readonly]}
    static = json_tx["transaction"]["message"]["accountKeys"]
    assert recipient not in static and readonly not in static
    lookups = json_tx["transaction"]["message"]["addressTableLookups"]
    assert [lookup["accountKey"] for lookup in lookups] == [summary["table"]]
    # Balances cover static then loaded accounts: the loaded recipient got the lamports.
    meta = json_tx["meta"]
    assert len(meta["preBalances"]) == len(static) + 2
    assert meta["postBalances"][len(static)] - meta["preBalances"][len(static)] == 1_000_000
    assert got["base64"]["version"] == 0 and got["base64"]["meta"]["loadedAddresses"] == meta["loadedAddresses"]

    keys = got["jsonParsed"]["transaction"]["message"]["accountKeys"]
    assert keys[0] == {"pubkey": payer, "writable": True, "signer": True, "source": "transaction"}
    assert {"pubkey": recipient, "writable": True, "signer": False, "source": "lookupTable"} in keys
    assert {"pubkey": readonly, "writable": False, "signer": False, "source": "lookupTable"} in keys
    parsed_ix = got["jsonParsed"]["transaction"]["message"]["instructions"][0]
    assert parsed_ix["parsed"]["type"] == "transfer" and parsed_ix["parsed"]["info"]["destination"] == recipient

    create_ixs = got["create"]["transaction"]["message"]["instructions"]
    assert [(ix["programId"], ix["parsed"]["type"]) for ix in create_ixs] == [
        (ALT_PROGRAM, "createLookupTable"),
        (ALT_PROGRAM, "extendLookupTable"),
    ]
    assert create_ixs[1]["parsed"]["info"]["newAddresses"][:2] == [recipient, readonly]

    message = (
        "Transaction version (0) is not supported by the requesting client. Please try the request again with the"
        ' following configuration parameter: "maxSupportedTransactionVersion": 0'
    )
    assert got["without_version"] == {"code": UNSUPPORTED_VERSION, "message": message}
    assert got["block_without_version"]["code"] == UNSUPPORTED_VERSION

    entry = next(t for t in got["block_accounts"]["transactions"] if t["transaction"]["signatures"][0] == summary["transferSignature"])
    assert {"pubkey": recipient, "writable": True, "signer": False, "source": "lookupTable"} in entry["transaction"]["accountKeys"]

    transfer_sig = summary["transferSignature"]
    assert got["signatures"]["loadedRecipient"] == [transfer_sig]
    assert got["signatures"]["loadedReadonly"] == [transfer_sig]
    # As in Agave, a lookup table is not an account of the transactions that read it.
    assert got["signatures"]["table"] == [summary["createSignature"]]


def test_v0_transactions_with_lookup_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50)
    node.start()
    try:
        check_run = run_script("alt_check.mjs", node)
        assert check_run.failures == [], check_run.report
        summary = check_run.summary
        assert summary["steps"][-1] == "bad lookup index (preflight)"
        wait_finalized(node, summary["transferSignature"])

        table_info = call(node, "getAccountInfo", [summary["table"], {"encoding": "jsonParsed"}])["result"]["value"]
        assert table_info["owner"] == ALT_PROGRAM
        parsed = table_info["data"]["parsed"]
        assert parsed["type"] == "lookupTable"
        assert parsed["info"]["addresses"][:2] == [summary["loadedRecipient"], summary["loadedReadonly"]]
        assert parsed["info"]["deactivationSlot"] == str(2**64 - 1)

        live = history(node, summary)
        check_history(live, summary)

        # Lookups that do not resolve: Agave's RPC refuses them while sanitizing (-32602), with or
        # without preflight, and simulateTransaction the same.
        payer = Keypair()
        airdrop = call(node, "requestAirdrop", [str(payer.pubkey()), 1_000_000_000])
        assert "result" in airdrop, airdrop
        recipient = Pubkey.from_string(summary["loadedRecipient"])
        missing = AddressLookupTableAccount(Pubkey.new_unique(), [recipient])
        tx = v0_transfer(node, payer, missing, recipient)
        not_found = "invalid transaction: Transaction loads an address table account that doesn't exist"
        for method, params in (
            ("sendTransaction", encoded(tx)),
            ("sendTransaction", [encoded(tx)[0], {"encoding": "base64", "skipPreflight": True}]),
            ("simulateTransaction", encoded(tx)),
        ):
            error = call(node, method, params).get("error")
            assert error == {"code": INVALID_PARAMS, "message": not_found}, (method, params[1], error)
        # An index past the table's end (the table holds 3 addresses).
        table = AddressLookupTableAccount(Pubkey.from_string(summary["table"]), [recipient, *[Pubkey.new_unique() for _ in range(9)]])
        tx = v0_transfer(node, payer, table, table.addresses[9])
        error = call(node, "simulateTransaction", encoded(tx)).get("error")
        assert error == {"code": INVALID_PARAMS, "message": "invalid transaction: Transaction address table lookup uses an invalid index"}
        assert call(node, "getSignatureStatuses", [[str(tx.signatures[0])]])["result"]["value"] == [None]

        # A v0 message's fee (base64 of the message).
        good = v0_transfer(node, payer, AddressLookupTableAccount(table.key, [recipient]), recipient)
        fee = call(node, "getFeeForMessage", [base64.b64encode(bytes(good.message)).decode(), {"commitment": "confirmed"}])
        assert fee["result"]["value"] == 5000

        # The same reads from the ledger file after a crash.
        node.kill()
        node.start()
        assert history(node, summary) == live
        # The table survives too: a new v0 transfer through it executes.
        tx = v0_transfer(node, payer, AddressLookupTableAccount(table.key, [recipient]), recipient)
        sent = call(node, "sendTransaction", encoded(tx))
        assert "result" in sent, sent
        wait_finalized(node, sent["result"])
        again = call(node, "getTransaction", [sent["result"], {"maxSupportedTransactionVersion": 0}])["result"]
        assert again["meta"]["loadedAddresses"] == {"writable": [summary["loadedRecipient"]], "readonly": []}

        # @solana/kit, unchanged, compresses a message with the same table and reads it back.
        monkeypatch.setenv("MIRROR_ALT_TABLE", summary["table"])
        monkeypatch.setenv("MIRROR_ALT_ADDRESSES", ",".join([summary["loadedRecipient"], summary["loadedReadonly"]]))
        kit_run = run_script("kit_alt_check.mjs", node)
        assert kit_run.failures == [], kit_run.report
        assert kit_run.summary["steps"][-1] == "getTransaction jsonParsed (lookupTable source)"
    finally:
        node.stop()
