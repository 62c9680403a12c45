"""mirror-localnet under the Anchor TS client the program is built with (@coral-xyz/anchor 0.31.1).

tests/js/anchor_check.mjs loads the committed IDL (idl/mirror.json) into `new Program(idl, provider)` and
drives a whole mirror life as a dApp would, each actor with its own wallet: the dev admin registers a
trainer, the creator creates a
mirror (`.simulate()` first, then `.rpc()`), grants MANAGE|TRAIN, the grantee requests training (Anchor
resolves the job PDA from the mirror's job_count), the dev trainer starts it, is refused a second start
with the program's AnchorError, and completes it. Every step checks the accounts
(`program.account.<type>.fetch/all` with memcmp) and the event payloads that reached
`program.addEventListener`; `account.mirror.subscribe` must see the mirror change.
"""

from __future__ import annotations

import json

from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from tests.test_js_client import JS_DIR, pytestmark, run_check

__all__ = ["pytestmark"]  # skipped without Node.js, like the web3.js check


def test_anchor_ts_client_drives_a_mirror_life() -> None:
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@coral-xyz/anchor"]["version"] == "0.31.1"  # the program's Anchor version

    with Localnet() as net:
        summary = run_check("anchor_check.mjs", net)

    assert summary["libraries"] == {"@coral-xyz/anchor": "0.31.1"}
    assert summary["programId"] == MIRROR_PROGRAM_ID
    assert summary["steps"][-1] == "removeEventListener"
    assert summary["mirrorCountBefore"] == 0 and summary["mirrors"] == 1
    assert summary["anchorError"] == "InvalidJobTransition"
    # One event of each kind reached program.addEventListener, in the order the life happened.
    life = ["trainerRegistered", "mirrorCreated", "accessGranted", "trainRequested"]
    life += ["trainingStarted", "trainingCompleted", "modelPublished"]
    assert summary["events"] == life
    assert summary["trainerCount"] == 2  # the dev trainer (bootstrap) and the one the admin registered
    steps = ("registerTrainer", "createMirror", "grantAccess", "requestTraining", "startTraining", "completeTraining")
    signatures = [summary[k] for k in steps]
    assert len(set(signatures)) == 6
    # The mirror is written by create, request and complete (notifications of one slot may merge);
    # the script waited for the one showing model_version 1.
    assert summary["mirrorChanges"] >= 2
