"""Every encoding Agave offers, by Agave's own encoders (solana-transaction-status and
solana-account-decoder): jsonParsed transactions (system parsed, other programs
partially decoded, parsed account keys and inner instructions), and accounts as
base58, base64, base64+zstd and jsonParsed (sysvars, token mints), dataSlice honoured."""

from __future__ import annotations

import base64
import shutil
import subprocess

import base58
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.pubkey import Pubkey

from mirror_common.localnet import Localnet
from tests.conftest import funded
from tests.test_localnet_rpc import raw, transfer_tx

SYSTEM = "11111111111111111111111111111111"


def unzstd(data: bytes) -> bytes:
    """zstd's own decoder (the CLI: no Python binding is a dependency here)."""
    if shutil.which("zstd") is None:
        pytest.skip("the zstd CLI is not installed")
    return subprocess.run(["zstd", "-d", "-c"], input=data, capture_output=True, check=True).stdout


CLOCK = "SysvarC1ock11111111111111111111111111111111"


async def test_get_transaction_json_parsed(rpc: AsyncClient, localnet: Localnet) -> None:
    payer = await funded(rpc, 1)
    to = Pubkey.new_unique()
    sig = (await rpc.send_transaction(await transfer_tx(rpc, payer, to, 4242))).value
    await rpc.confirm_transaction(sig, commitment=Confirmed, sleep_seconds=0.05)
    got = (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "jsonParsed"}]))["result"]
    message = got["transaction"]["message"]
    assert message["accountKeys"] == [
        {"pubkey": str(payer.pubkey()), "signer": True, "writable": True, "source": "transaction"},
        {"pubkey": str(to), "signer": False, "writable": True, "source": "transaction"},
        {"pubkey": SYSTEM, "signer": False, "writable": False, "source": "transaction"},
    ]
    [ix] = message["instructions"]
    assert ix["program"] == "system" and ix["programId"] == SYSTEM
    assert ix["parsed"] == {"type": "transfer", "info": {"source": str(payer.pubkey()), "destination": str(to), "lamports": 4242}}
    assert got["meta"]["fee"] == 5000 and got["meta"]["logMessages"]

    # The same transaction as json keeps the raw form.
    plain = (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "json"}]))["result"]
    assert plain["transaction"]["message"]["accountKeys"][0] == str(payer.pubkey())
    assert "parsed" not in plain["transaction"]["message"]["instructions"][0]

    # And its block, parsed the same way.
    block = (await raw(localnet, "getBlock", [got["slot"], {"commitment": "confirmed", "encoding": "jsonParsed"}]))["result"]
    parsed = [t for t in block["transactions"] if t["transaction"]["signatures"] == [str(sig)]]
    assert parsed[0]["transaction"]["message"]["instructions"][0]["parsed"]["type"] == "transfer"

    wire = (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "base58"}]))["result"]["transaction"]
    assert wire[1] == "base58" and base58.b58decode(wire[0]) == base64.b64decode(
        (await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "base64"}]))["result"]["transaction"][0]
    )
    bad = await raw(localnet, "getTransaction", [str(sig), {"commitment": "confirmed", "encoding": "base64+zstd"}])
    assert bad["error"]["code"] == -32602


async def test_mirror_instructions_and_accounts_parse_from_the_idl(rpc: AsyncClient, localnet: Localnet) -> None:
    """Beyond solana-test-validator: jsonParsed reads the Mirror program's own
    instructions and accounts from its committed IDL."""
    from mirror_common import codec

    config = codec.config_pda()
    program = str(codec.default_codec().program_id)
    history = (await rpc.get_signatures_for_address(config)).value
    reply = await raw(localnet, "getTransaction", [str(history[-1].signature), {"commitment": "confirmed", "encoding": "jsonParsed"}])
    instructions = reply["result"]["transaction"]["message"]["instructions"]
    [ix] = [ix for ix in instructions if ix["programId"] == program]
    assert ix["program"] == "mirror"
    assert ix["parsed"]["type"] == "initializeConfig"
    info = ix["parsed"]["info"]
    assert info["config"] == str(config) and info["systemProgram"] == "11111111111111111111111111111111"
    assert set(info) == {"config", "admin", "program", "programData", "systemProgram"}
    # Plain json leaves it raw.
    raw_json = await raw(localnet, "getTransaction", [str(history[-1].signature), {"commitment": "confirmed", "encoding": "json"}])
    assert "parsed" not in str(raw_json["result"]["transaction"]["message"]["instructions"])

    account = (await raw(localnet, "getAccountInfo", [str(config), {"encoding": "jsonParsed", "commitment": "confirmed"}]))["result"][
        "value"
    ]
    assert account["data"]["program"] == "mirror" and account["data"]["parsed"]["type"] == "config"
    fields = account["data"]["parsed"]["info"]
    assert set(fields) == {"admin", "pendingAdmin", "paused", "mirrorCount", "trainerCount", "jobCount", "modelCount", "bump"}
    assert fields["admin"] == info["admin"] and fields["paused"] is False
    # u64 counters as decimal strings (as Agave writes token amounts): exact in JavaScript past 2^53.
    counters = ("mirrorCount", "trainerCount", "jobCount", "modelCount")
    assert all(isinstance(fields[k], str) and fields[k].isdigit() for k in counters), fields
    # A Mirror-owned account whose bytes are not one of its accounts falls back to base64.
    odd = str(Pubkey.new_unique())
    await raw(
        localnet,
        "mirror_setAccount",
        [odd, {"lamports": 10**6, "owner": program, "data": base64.b64encode(b"not an anchor account").decode()}],
    )
    fallback = (await raw(localnet, "getAccountInfo", [odd, {"encoding": "jsonParsed", "commitment": "confirmed"}]))["result"]["value"]
    assert fallback["data"][1] == "base64"


async def test_account_encodings_and_data_slice(rpc: AsyncClient, localnet: Localnet) -> None:
    clock = await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "jsonParsed", "commitment": "confirmed"}])
    data = clock["result"]["value"]["data"]
    assert data["program"] == "sysvar" and data["parsed"]["type"] == "clock"
    assert set(data["parsed"]["info"]) >= {"slot", "epoch", "unixTimestamp", "leaderScheduleEpoch"}

    raw64 = (await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "base64", "commitment": "confirmed"}]))["result"]["value"]["data"]
    full = base64.b64decode(raw64[0])
    zstd = (await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "base64+zstd", "commitment": "confirmed"}]))["result"]["value"][
        "data"
    ]
    assert zstd[1] == "base64+zstd"
    unpacked = unzstd(base64.b64decode(zstd[0]))
    assert unpacked[:8] == full[:8] and len(unpacked) == len(full) == 40

    sliced = await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "base64", "dataSlice": {"offset": 8, "length": 8}}])
    assert len(base64.b64decode(sliced["result"]["value"]["data"][0])) == 8
    beyond = await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "base58", "dataSlice": {"offset": 100, "length": 8}}])
    assert beyond["result"]["value"]["data"] == ["", "base58"]
    sliced_zstd = await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "base64+zstd", "dataSlice": {"offset": 0, "length": 4}}])
    assert len(unzstd(base64.b64decode(sliced_zstd["result"]["value"]["data"][0]))) == 4

    # base58 refuses more than 128 bytes, unless a slice makes it smaller.
    rent = "SysvarRent111111111111111111111111111111111"
    payer = await funded(rpc, 1)
    big = "SysvarS1otHashes111111111111111111111111111"  # 20,488 bytes
    refused = await raw(localnet, "getAccountInfo", [big, {"encoding": "base58"}])
    assert refused["error"] == {
        "code": -32602,
        "message": "Encoded binary (base 58) data should be less than 128 bytes, please use Base64 encoding.",
    }
    ok = await raw(localnet, "getAccountInfo", [big, {"encoding": "base58", "dataSlice": {"offset": 0, "length": 16}}])
    assert len(base58.b58decode(ok["result"]["value"]["data"][0])) == 16
    assert (await raw(localnet, "getAccountInfo", [rent, {"encoding": "jsonParsed"}]))["result"]["value"]["data"]["parsed"][
        "type"
    ] == "rent"
    # jsonParsed of an account no parser knows is base64, sliced as asked.
    unknown = str(Pubkey.new_unique())
    await raw(
        localnet,
        "mirror_setAccount",
        [unknown, {"lamports": 10**6, "owner": str(Pubkey.new_unique()), "data": base64.b64encode(bytes(32)).decode()}],
    )
    fallback = await raw(
        localnet,
        "getAccountInfo",
        [unknown, {"encoding": "jsonParsed", "dataSlice": {"offset": 0, "length": 8}, "commitment": "confirmed"}],
    )
    assert fallback["result"]["value"]["data"][1] == "base64" and len(base64.b64decode(fallback["result"]["value"]["data"][0])) == 8
    many = await raw(localnet, "getMultipleAccounts", [[CLOCK, str(payer.pubkey())]])
    assert [a["data"][1] for a in many["result"]["value"]] == ["base64", "base64"]  # Agave's default here
    assert (await raw(localnet, "getAccountInfo", [CLOCK, {"encoding": "hex"}]))["error"]["code"] == -32602
