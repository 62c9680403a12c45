"""SPL Token on mirror-localnet: the node runs SPL Token and the ATA program, and the
token methods answer as Agave's do (getTokenAccountBalance, getTokenSupply,
getTokenAccountsByOwner/Delegate, getTokenLargestAccounts), jsonParsed included, with
Agave's errors for accounts that are not token accounts or mints."""

from __future__ import annotations

from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    approve,
    create_associated_token_account,
    get_associated_token_address,
    initialize_mint,
    mint_to,
)
from spl.token.models import ApproveParams, InitializeMintParams, MintToParams

from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_rpc import raw

CONFIRMED = {"commitment": "confirmed"}


async def send(rpc: AsyncClient, signers: list[Keypair], ixs: list) -> Signature:
    blockhash = (await rpc.get_latest_blockhash()).value.blockhash
    tx = VersionedTransaction.from_legacy(Transaction(signers, Message(ixs, signers[0].pubkey()), blockhash))
    sig = (await rpc.send_transaction(tx)).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    return sig


async def token_setup(rpc: AsyncClient) -> tuple[Keypair, Pubkey, Keypair, Keypair, Pubkey, Pubkey]:
    """A 6-decimal mint, two holders' associated accounts (1.5 and 0.25 tokens),
    the first approving a delegate for 0.1."""
    payer = await funded(rpc, 5)
    mint = Keypair()
    rent = (await rpc.get_minimum_balance_for_rent_exemption(MINT_LEN)).value
    await send(
        rpc,
        [payer, mint],
        [
            create_account(
                CreateAccountParams(
                    from_pubkey=payer.pubkey(), to_pubkey=mint.pubkey(), lamports=rent, space=MINT_LEN, owner=TOKEN_PROGRAM_ID
                )
            ),
            initialize_mint(
                InitializeMintParams(
                    decimals=6, program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), mint_authority=payer.pubkey(), freeze_authority=None
                )
            ),
        ],
    )
    alice, bob = Keypair(), Keypair()
    delegate = Keypair().pubkey()
    ata_a = get_associated_token_address(alice.pubkey(), mint.pubkey())
    ata_b = get_associated_token_address(bob.pubkey(), mint.pubkey())
    await send(
        rpc,
        [payer],
        [
            create_associated_token_account(payer.pubkey(), alice.pubkey(), mint.pubkey()),
            create_associated_token_account(payer.pubkey(), bob.pubkey(), mint.pubkey()),
            mint_to(
                MintToParams(program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), dest=ata_a, mint_authority=payer.pubkey(), amount=1_500_000)
            ),
            mint_to(
                MintToParams(program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), dest=ata_b, mint_authority=payer.pubkey(), amount=250_000)
            ),
        ],
    )
    await funded_owner(rpc, payer, alice)
    await send(
        rpc,
        [alice],
        [approve(ApproveParams(program_id=TOKEN_PROGRAM_ID, source=ata_a, delegate=delegate, owner=alice.pubkey(), amount=100_000))],
    )
    return payer, mint.pubkey(), alice, bob, ata_a, delegate


async def funded_owner(rpc: AsyncClient, payer: Keypair, owner: Keypair) -> None:
    from solders.system_program import TransferParams, transfer

    await send(rpc, [payer], [transfer(TransferParams(from_pubkey=payer.pubkey(), to_pubkey=owner.pubkey(), lamports=10_000_000))])


async def test_token_methods(rpc: AsyncClient, localnet: Localnet) -> None:
    payer, mint, alice, bob, ata_a, delegate = await token_setup(rpc)

    balance = (await raw(localnet, "getTokenAccountBalance", [str(ata_a), CONFIRMED]))["result"]["value"]
    assert balance == {"amount": "1500000", "decimals": 6, "uiAmount": 1.5, "uiAmountString": "1.5"}
    supply = (await raw(localnet, "getTokenSupply", [str(mint), CONFIRMED]))["result"]["value"]
    assert supply == {"amount": "1750000", "decimals": 6, "uiAmount": 1.75, "uiAmountString": "1.75"}

    largest = (await raw(localnet, "getTokenLargestAccounts", [str(mint), CONFIRMED]))["result"]["value"]
    assert [(a["address"], a["amount"], a["uiAmountString"]) for a in largest] == [
        (str(ata_a), "1500000", "1.5"),
        (str(get_associated_token_address(bob.pubkey(), mint)), "250000", "0.25"),
    ]

    by_owner = await raw(
        localnet, "getTokenAccountsByOwner", [str(alice.pubkey()), {"mint": str(mint)}, {**CONFIRMED, "encoding": "jsonParsed"}]
    )
    [keyed] = by_owner["result"]["value"]
    assert keyed["pubkey"] == str(ata_a)
    data = keyed["account"]["data"]
    assert data["program"] == "spl-token" and data["space"] == 165
    assert data["parsed"]["type"] == "account"
    info = data["parsed"]["info"]
    assert info["mint"] == str(mint) and info["owner"] == str(alice.pubkey()) and info["state"] == "initialized"
    assert info["isNative"] is False and info["tokenAmount"]["uiAmountString"] == "1.5"
    assert info["delegate"] == str(delegate) and info["delegatedAmount"]["amount"] == "100000"

    by_program = await raw(
        localnet, "getTokenAccountsByOwner", [str(bob.pubkey()), {"programId": str(TOKEN_PROGRAM_ID)}, {**CONFIRMED, "encoding": "base64"}]
    )
    [bobs] = by_program["result"]["value"]
    assert bobs["account"]["data"][1] == "base64" and bobs["account"]["owner"] == str(TOKEN_PROGRAM_ID)
    assert (await raw(localnet, "getTokenAccountsByOwner", [str(Pubkey.new_unique()), {"mint": str(mint)}, CONFIRMED]))["result"][
        "value"
    ] == []

    by_delegate = await raw(
        localnet, "getTokenAccountsByDelegate", [str(delegate), {"programId": str(TOKEN_PROGRAM_ID)}, {**CONFIRMED, "encoding": "base64"}]
    )
    assert [a["pubkey"] for a in by_delegate["result"]["value"]] == [str(ata_a)]
    # The default encoding is base58, which refuses 165 bytes as Agave's does.
    base58 = await raw(localnet, "getTokenAccountsByDelegate", [str(delegate), {"programId": str(TOKEN_PROGRAM_ID)}, CONFIRMED])
    assert base58["error"]["code"] == -32602 and "base 58" in base58["error"]["message"]

    parsed_mint = (await raw(localnet, "getAccountInfo", [str(mint), {**CONFIRMED, "encoding": "jsonParsed"}]))["result"]["value"]["data"]
    assert parsed_mint["parsed"] == {
        "type": "mint",
        "info": {"decimals": 6, "freezeAuthority": None, "isInitialized": True, "mintAuthority": str(payer.pubkey()), "supply": "1750000"},
    }
    # Accounts no parser knows fall back to base64 under jsonParsed, as Agave's do.
    plain = (await raw(localnet, "getAccountInfo", [str(payer.pubkey()), {**CONFIRMED, "encoding": "jsonParsed"}]))["result"]["value"]
    assert plain["data"][1] == "base64"
    # memcmp on the owner plus tokenAccountState finds Alice's account.
    program_accounts = await raw(
        localnet,
        "getProgramAccounts",
        [
            str(TOKEN_PROGRAM_ID),
            {
                **CONFIRMED,
                "encoding": "jsonParsed",
                "filters": [{"dataSize": 165}, {"memcmp": {"offset": 32, "bytes": str(alice.pubkey())}}, "tokenAccountState"],
            },
        ],
    )
    assert [(a["pubkey"], a["account"]["data"]["parsed"]["type"]) for a in program_accounts["result"]] == [(str(ata_a), "account")]


async def test_token_method_errors(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    not_token = str(payer.pubkey())
    missing = str(Pubkey.new_unique())

    async def err(method: str, params: list) -> dict:
        reply = await raw(localnet, method, params)
        assert "error" in reply, reply
        return reply["error"]

    assert await err("getTokenAccountBalance", [not_token, CONFIRMED]) == {"code": -32602, "message": "Invalid param: not a Token account"}
    assert await err("getTokenAccountBalance", [missing]) == {"code": -32602, "message": "Invalid param: could not find account"}
    assert await err("getTokenSupply", [not_token, CONFIRMED]) == {"code": -32602, "message": "Invalid param: not a Token mint"}
    assert await err("getTokenSupply", [missing]) == {"code": -32602, "message": "Invalid param: could not find account"}
    assert await err("getTokenLargestAccounts", [missing]) == {"code": -32602, "message": "Invalid param: could not find mint"}
    assert await err("getTokenAccountsByOwner", [not_token, {"mint": missing}]) == {
        "code": -32602,
        "message": "Invalid param: could not find mint",
    }
    assert await err("getTokenAccountsByOwner", [not_token, {"programId": missing}]) == {
        "code": -32602,
        "message": "Invalid param: unrecognized Token program id",
    }
    assert (await err("getTokenAccountsByOwner", [not_token]))["code"] == -32602
    assert (await err("getTokenAccountsByDelegate", [not_token, {"everything": True}]))["code"] == -32602
    assert (await err("getTokenAccountBalance", ["xyz"]))["code"] == -32602


async def test_token_balances_and_parsed_token_instructions_in_transactions(rpc: AsyncClient, localnet: Localnet) -> None:
    _payer, mint, alice, bob, ata_a, _delegate = await token_setup(rpc)
    # A transfer of 0.5 from Alice to Bob, by Alice.
    from spl.token.instructions import transfer_checked
    from spl.token.models import TransferCheckedParams

    ata_b = get_associated_token_address(bob.pubkey(), mint)
    sig = await send(
        rpc,
        [alice],
        [
            transfer_checked(
                TransferCheckedParams(
                    program_id=TOKEN_PROGRAM_ID, source=ata_a, mint=mint, dest=ata_b, owner=alice.pubkey(), amount=500_000, decimals=6
                )
            )
        ],
    )
    got = (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "jsonParsed"}]))["result"]
    [ix] = got["transaction"]["message"]["instructions"]
    assert ix["program"] == "spl-token" and ix["parsed"]["type"] == "transferChecked"
    assert ix["parsed"]["info"]["tokenAmount"]["uiAmountString"] == "0.5"
    keys = [k["pubkey"] for k in got["transaction"]["message"]["accountKeys"]]

    def balances(which: str) -> dict[str, str]:
        return {keys[b["accountIndex"]]: b["uiTokenAmount"]["uiAmountString"] for b in got["meta"][which]}

    assert balances("preTokenBalances") == {str(ata_a): "1.5", str(ata_b): "0.25"}
    assert balances("postTokenBalances") == {str(ata_a): "1", str(ata_b): "0.75"}
    [post_a] = [b for b in got["meta"]["postTokenBalances"] if keys[b["accountIndex"]] == str(ata_a)]
    assert post_a["mint"] == str(mint) and post_a["owner"] == str(alice.pubkey()) and post_a["programId"] == str(TOKEN_PROGRAM_ID)
    # The same balances in json and in getBlock.
    plain = (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed"}]))["result"]
    assert len(plain["meta"]["postTokenBalances"]) == 2
    accounts = (await raw(localnet, "getBlock", [got["slot"], {"commitment": "confirmed", "transactionDetails": "accounts"}]))["result"]
    [entry] = [t for t in accounts["transactions"] if t["transaction"]["signatures"] == [str(sig)]]
    assert len(entry["meta"]["preTokenBalances"]) == 2


async def test_token_balances_survive_a_restart(tmp_path: Path) -> None:
    node = Localnet(ledger_dir=tmp_path / "ledger", slot_ms=50)
    node.start()
    try:
        async with AsyncClient(node.rpc_url) as client:
            *_, ata_a, _ = await token_setup(client)
            sigs = (await client.get_signatures_for_address(ata_a, commitment=Confirmed)).value
            before = [(await raw(node, "getTransaction", [str(s.signature), {"commitment": "confirmed"}]))["result"]["meta"] for s in sigs]
        assert any(m["postTokenBalances"] for m in before)
        node.kill()
        node.bootstrap = False
        node.start()
        after = [(await raw(node, "getTransaction", [str(s.signature), {"commitment": "confirmed"}]))["result"]["meta"] for s in sigs]
        assert [(m["preTokenBalances"], m["postTokenBalances"]) for m in after] == [
            (m["preTokenBalances"], m["postTokenBalances"]) for m in before
        ]
    finally:
        node.stop()


async def test_program_subscribe_json_parsed_token_accounts(rpc: AsyncClient, localnet: Localnet) -> None:
    import asyncio
    import json

    import websockets

    async with websockets.connect(localnet.ws_url) as ws:
        params = [str(TOKEN_PROGRAM_ID), {"commitment": "confirmed", "encoding": "jsonParsed"}]
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "programSubscribe", "params": params}))
        assert isinstance(json.loads(await ws.recv())["result"], int)
        setup = asyncio.create_task(token_setup(rpc))
        parsed_types: set[str] = set()
        async with asyncio.timeout(20):
            while "account" not in parsed_types:
                message = json.loads(await ws.recv())
                data = message["params"]["result"]["value"]["account"]["data"]
                assert isinstance(data, dict), data  # parsed, not base64
                assert data["program"] == "spl-token"
                parsed_types.add(data["parsed"]["type"])
        await setup
        assert parsed_types >= {"mint", "account"}
