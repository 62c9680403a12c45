"""mirror-localnet under @solana/kit (web3.js v2): every HTTP method of Agave's JSON-RPC and the PubSub
subscriptions, through kit's typed RPC, as solana-test-validator answers them on a one-node cluster.

tests/js/kit_check.mjs checks each answer (the node as the cluster's only node, leader and vote account;
supply, inflation and epoch schedule figures; a v0 transfer whose priority fee getFeeForMessage,
the fee charged and getRecentPrioritizationFees agree on; blocks and their parent links; SPL Token
accounts with a delegate; every account encoding; slot, root, logs, account, signature, program and
block notifications) and drives a whole mirror life with instructions built from the IDL. A failing step
does not stop the others: the report lists them all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mirror_common.localnet import Localnet
from tests.test_js_client import CheckRun, pytestmark, run_script

__all__ = ["pytestmark"]  # skipped without Node.js, like the web3.js check

# Issue #10: every HTTP method of Agave's JSON-RPC.
AGAVE_HTTP_METHODS = sorted(
    """
    getAccountInfo getBalance getBlock getBlockCommitment getBlockHeight getBlockProduction getBlockTime getBlocks
    getBlocksWithLimit getClusterNodes getEpochInfo getEpochSchedule getFeeForMessage getFirstAvailableBlock getGenesisHash
    getHealth getHighestSnapshotSlot getIdentity getInflationGovernor getInflationRate getInflationReward getLargestAccounts
    getLatestBlockhash getLeaderSchedule getMaxRetransmitSlot getMaxShredInsertSlot getMinimumBalanceForRentExemption
    getMultipleAccounts getProgramAccounts getRecentPerformanceSamples getRecentPrioritizationFees getSignatureStatuses
    getSignaturesForAddress getSlot getSlotLeader getSlotLeaders getStakeMinimumDelegation getSupply getTokenAccountBalance
    getTokenAccountsByDelegate getTokenAccountsByOwner getTokenLargestAccounts getTokenSupply getTransaction
    getTransactionCount getVersion getVoteAccounts isBlockhashValid minimumLedgerSlot requestAirdrop sendTransaction
    simulateTransaction
    """.split()
)


def test_method_list_is_agaves() -> None:
    assert len(AGAVE_HTTP_METHODS) == 52 == len(set(AGAVE_HTTP_METHODS))


@pytest.fixture(scope="module")
def kit_run() -> Iterator[CheckRun]:
    """kit_check.mjs, run once against a fresh node for the tests below."""
    with Localnet() as net:
        yield run_script("kit_check.mjs", net)


def test_kit_drives_a_mirror_life(kit_run: CheckRun) -> None:
    """create, grant, request (grantee), start and complete (dev trainer), instructions built from the IDL
    and sent, confirmed and read back through kit (tests/js/mirror_idl.mjs checks events and accounts)."""
    assert kit_run.failed("mirror life") == [], kit_run.report
    life = kit_run.summary["mirrorLife"]
    assert sorted(life) == ["completeTraining", "createMirror", "grantAccess", "requestTraining", "startTraining"]
    assert len(set(life.values())) == 5


def test_kit_calls_every_method_and_subscription(kit_run: CheckRun) -> None:
    summary = kit_run.summary
    assert summary["libraries"]["@solana/kit"].split(".")[0] >= "2"
    assert summary["methods"] == AGAVE_HTTP_METHODS
    assert summary["subscriptions"] == ["account", "block", "logs", "program", "root", "signature", "slot"]
    assert summary["transfer"] != summary["airdrop"]
    assert kit_run.failures == [], kit_run.report
