"""mirror-localnet under what wallets and explorers built on @solana/web3.js v1 call: getParsedTransaction
(system, memo, SPL Token and ATA instructions parsed, token balances), getParsedTokenAccountsByOwner,
getParsedAccountInfo and getBlock/getParsedBlock (every transactionDetails, parent links, a slot not
produced yet), with SPL Token driven by @solana/spl-token, and a whole mirror life sent as web3.js v1
Transactions. Shapes are solana-test-validator's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirror_common.localnet import Localnet
from tests.test_js_client import CheckRun, pytestmark, run_script

__all__ = ["pytestmark"]  # skipped without Node.js, like the web3.js check


@pytest.fixture(scope="module")
def web3_run() -> Iterator[CheckRun]:
    """web3_parsed_check.mjs, run once against a fresh node for the tests below."""
    with Localnet() as net:
        yield run_script("web3_parsed_check.mjs", net)


def test_web3js_drives_a_mirror_life(web3_run: CheckRun) -> None:
    """create, grant, request (grantee), start and complete (dev trainer) with web3.js v1 Transactions built
    from the IDL (tests/js/mirror_idl.mjs checks events and accounts)."""
    assert web3_run.failed("mirror life") == [], web3_run.report
    life = web3_run.summary["mirrorLife"]
    assert sorted(life) == ["completeTraining", "createMirror", "grantAccess", "requestTraining", "startTraining"]


def test_web3js_parsed_transactions_tokens_and_blocks(web3_run: CheckRun) -> None:
    summary = web3_run.summary
    assert web3_run.failures == [], web3_run.report
    assert summary["libraries"]["@solana/web3.js"].startswith("1.")
    assert summary["steps"][-1] == "getBlock (slot not produced yet)"
    assert summary["blockSlot"] > 0 and summary["blockTransactions"] >= 1
