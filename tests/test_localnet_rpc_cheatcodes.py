"""The `mirror_setAccount` test cheatcode (surfpool's `surfnet_setAccount`): it writes
any account, as a transaction would (confirmed now, finalized with its slot,
durable in the ledger), and is refused unless the node runs with --cheatcodes or
--bootstrap."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

from solders.pubkey import Pubkey

from mirror_common.localnet import Localnet
from tests.test_localnet_rpc import raw

OWNER = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"


async def test_set_account_writes_any_account(localnet: Localnet) -> None:
    key = str(Pubkey.new_unique())
    data = bytes(range(40))
    reply = await raw(localnet, "mirror_setAccount", [key, {"lamports": 123_456, "data": base64.b64encode(data).decode(), "owner": OWNER}])
    assert reply["result"]["slot"] > 0
    got = (await raw(localnet, "getAccountInfo", [key, {"encoding": "base64", "commitment": "confirmed"}]))["result"]["value"]
    assert got["lamports"] == 123_456 and got["owner"] == OWNER and base64.b64decode(got["data"][0]) == data
    # Not final yet: finalized reads see it once its slot is rooted.
    for _ in range(100):
        final = (await raw(localnet, "getAccountInfo", [key, {"encoding": "base64", "commitment": "finalized"}]))["result"]["value"]
        if final is not None:
            break
        await asyncio.sleep(0.05)
    assert final is not None and final["lamports"] == 123_456
    # Fields left out keep their values.
    await raw(localnet, "mirror_setAccount", [key, {"lamports": 7}])
    got = (await raw(localnet, "getAccountInfo", [key, {"encoding": "base64", "commitment": "confirmed"}]))["result"]["value"]
    assert got["lamports"] == 7 and got["owner"] == OWNER and base64.b64decode(got["data"][0]) == data


async def test_set_account_bad_input(localnet: Localnet) -> None:
    key = str(Pubkey.new_unique())
    for params in (
        [key, {"data": "%%%"}],
        [key, {"lamports": -1}],
        [key, {"colour": "red"}],
        ["nope", {"lamports": 1}],
        [key],
        [key, {"owner": "x"}],
    ):
        reply = await raw(localnet, "mirror_setAccount", params)
        assert reply["error"]["code"] == -32602, params


async def test_set_account_is_refused_without_cheatcodes_and_durable_with_them(tmp_path: Path) -> None:
    with Localnet(bootstrap=False, slot_ms=50) as plain:
        refused = await raw(plain, "mirror_setAccount", [str(Pubkey.new_unique()), {"lamports": 1}])
        assert refused["error"]["code"] == -32601 and "--cheatcodes" in refused["error"]["message"]

    key = str(Pubkey.new_unique())
    node = Localnet(ledger_dir=tmp_path / "ledger", bootstrap=False, slot_ms=50, extra_args=("--cheatcodes",))
    node.start()
    try:
        assert "result" in await raw(node, "mirror_setAccount", [key, {"lamports": 42, "data": base64.b64encode(b"kept").decode()}])
        node.kill()
        node.start()
        got = (await raw(node, "getAccountInfo", [key, {"encoding": "base64"}]))["result"]["value"]
        assert got["lamports"] == 42 and base64.b64decode(got["data"][0]) == b"kept"
    finally:
        node.stop()
