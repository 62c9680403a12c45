"""Every instruction, with arguments at the edges of their types, through the real path:
program -> mirror-localnet -> indexer -> PostgreSQL; then reconcile (issue 7, point 2).

What it guarantees: for whatever a drawn example sends, (1) the program accepts exactly
what its bounds allow (a small model of them, `Case.*_ok`), and a refused transaction
leaves nothing behind; (2) the indexer stays live (a canary mirror sent after the example
reaches the `mirrors` table); (3) the database holds exactly the chain's events and
`reconcile` finds no drift; (4) nothing was recorded in skipped_items (the chain is honest,
so any skip, apply_error above all, is a fault).

How: each example runs on its own bootstrapped localnet, database and in-process indexer,
so one poisoned example cannot hide or cause another's failure, and the clock can be
warped (forward only) per example: to just before the year 10,000, or to the year 300,000
where every timestamp is past PostgreSQL's range. An example walks a mirror through its
whole life (both mirror statuses, all five job statuses) and every admin instruction.
Values come from hand-picked edge lists (0, 1, max, min, just inside/outside the program's
bounds, 4-byte UTF-8 at the byte limit, combining marks, right-to-left text and marks)
mixed with generated ones. The known edges are `@example`s and, with the failures the
property found, plain regression tests at the end of the file.

Shrinking is off: an example costs seconds, and a failure names its transaction, value
and error directly (the transcript in the assertion message).
"""

from __future__ import annotations

import asyncio
import re
import string
import unicodedata
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.core import RPCException
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from indexer.migrate import migrate
from indexer.service import Indexer, IndexerConfig
from mirror_common import codec
from mirror_common.config import MIRROR_PROGRAM_ID
from mirror_common.localnet import Localnet
from mirror_common.services import Postgres, Redis
from tests.conftest import dev_keypair
from tests.indexer_support import assert_exactly_the_chain, eventually
from tests.test_localnet_mirror_flow import DATASET_CID, MODEL_CID, PARAMS
from tests.test_localnet_rpc import raw

U16_MAX, U32_MAX, U64_MAX = 2**16 - 1, 2**32 - 1, 2**64 - 1
I64_MIN, I64_MAX = -(2**63), 2**63 - 1
YEAR_10_000 = 253402300800  # 10000-01-01T00:00:00Z: past Python's datetime
YEAR_300_000 = 9404918380800  # 300000-01-01T00:00:00Z: past PostgreSQL's timestamptz (294276 AD)
CLOCK_END = I64_MAX - 30  # the clock's last half minute (the node saturates at i64::MAX)
NOW_PLUS_1 = "now+1"  # an expiry one second after the node's clock, read just before sending
NAME_MAX, URI_MAX, CID_MAX = 32, 128, 96
MAX_EPOCHS, MAX_SEQ_LEN, MAX_BATCH_SIZE = 1_000, 8_192, 4_096
LAMPORTS = 1_000_000_000
DEFAULT_PUBKEY = Pubkey.default()

# --- the program's bounds, as a model ----------------------------------------------------------


def printable(text: str) -> bool:
    """Rust's `char::is_control` is general category Cc; format characters (RLO, LRM, ZWJ, BOM) pass."""
    return not any(unicodedata.category(c) == "Cc" for c in text)


def name_ok(name: str) -> bool:
    return 0 < len(name.encode()) <= NAME_MAX and printable(name)


def uri_ok(uri: str) -> bool:
    return len(uri.encode()) <= URI_MAX and printable(uri)


def cid_ok(cid: str) -> bool:
    return 0 < len(cid) <= CID_MAX and all(c in string.ascii_letters + string.digits for c in cid)


def params_ok(p: dict[str, int]) -> bool:
    return (
        1 <= p["epochs"] <= MAX_EPOCHS
        and 1 <= p["seq_len"] <= MAX_SEQ_LEN
        and 1 <= p["batch_size"] <= MAX_BATCH_SIZE
        and p["learning_rate_micros"] > 0
    )


@dataclass(frozen=True)
class Case:
    """One example: every argument an instruction takes in it. Defaults are plain values."""

    warp_to: int | None = None  # unix seconds to move the node's clock to first (forward only)
    mirror_id: int = 1
    name: str = "Ada"
    metadata_uri: str = "ipfs://ada"
    visibility: str = "Private"
    update: tuple[str | None, str | None, str | None] = ("Ada L.", None, "Public")
    permissions: int = 12
    expires_at: int | str = 0
    dataset_cid: str = DATASET_CID
    params: dict[str, int] = field(default_factory=lambda: dict(PARAMS))
    wrong_version: int = 0
    model_cid: str = MODEL_CID
    weights_sha256: str = "ab" * 32
    metrics: tuple[int, int] = (1_500_000, 4096)
    reason_code: int = 4
    encryption_key: str = "11" * 32
    handover: bool = True

    def update_ok(self) -> bool:
        name, uri, vis = self.update
        return (name, uri, vis) != (None, None, None) and (name is None or name_ok(name)) and (uri is None or uri_ok(uri))


# --- strategies: the edges of each type, mixed with generated values ----------------------------


def fit_bytes(text: str, limit: int) -> str:
    """The longest prefix of `text` that is at most `limit` UTF-8 bytes."""
    while len(text.encode()) > limit:
        text = text[:-1]
    return text


MATH_M = "\U0001d510"  # MATHEMATICAL FRAKTUR CAPITAL M: 4 bytes in UTF-8
EDGE_NAMES = [
    MATH_M * 8,  # 32 bytes of 4-byte characters: the limit
    MATH_M * 9,  # 36 bytes: refused
    "a" + MATH_M * 8,  # 33 bytes: one over
    "\U0010ffff" * 8,  # the last code point
    "e" + "\u0301" * 15,  # 31 bytes of combining acute accents
    "Z\u0337\u0322\u0335\u0321\u0334",  # stacked combining marks
    "\u05de\u05e8\u05d0\u05d4",  # Hebrew
    "\u0645\u0631\u0622\u0629",  # Arabic
    "\u202eevil\u202c",  # RIGHT-TO-LEFT OVERRIDE ... POP: format characters, accepted
    "\u200f\u200e\u200b\u200d\ufeff",  # RLM, LRM, ZWSP, ZWJ, BOM
    "\ufffe\uffff",  # noncharacters
    "",  # NameEmpty
    "a\u0085b",  # NEL: a C1 control, refused
    "tab\there",  # refused
    "x",
]
EDGE_URIS = ["", MATH_M * 32, MATH_M * 32 + "a", "ipfs://" + "\u05d0" * 60, "\u202e" * 42, "a\x7f", "\u0301" * 64]
EDGE_CIDS = ["z" * CID_MAX, "1", "Z" * (CID_MAX + 1), "", "bafy-x", "\u00e9t\u00e9", DATASET_CID, "0" * CID_MAX]
ALNUM = string.ascii_letters + string.digits

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
names = st.sampled_from(EDGE_NAMES) | texts.map(lambda s: fit_bytes(s, NAME_MAX))
uris = st.sampled_from(EDGE_URIS) | texts.map(lambda s: fit_bytes(s * 4, URI_MAX))
cids = st.sampled_from(EDGE_CIDS) | st.text(st.sampled_from(ALNUM), min_size=1, max_size=CID_MAX)
u64s = st.sampled_from([0, 1, 2**63 - 1, 2**63, U64_MAX - 1, U64_MAX]) | st.integers(0, U64_MAX)


def u16_in(top: int) -> st.SearchStrategy[int]:
    return st.sampled_from([1, top]) | st.integers(1, top)


def u16_around(top: int) -> st.SearchStrategy[int]:
    return st.sampled_from([0, 1, top, top + 1, U16_MAX]) | st.integers(0, U16_MAX)


# Half the draws stay inside the program's bounds (so edge values get stored), half may step out.
valid_params = st.fixed_dictionaries(
    {
        "epochs": u16_in(MAX_EPOCHS),
        "seq_len": u16_in(MAX_SEQ_LEN),
        "batch_size": u16_in(MAX_BATCH_SIZE),
        "learning_rate_micros": st.sampled_from([1, U32_MAX]) | st.integers(1, U32_MAX),
        "start_fresh": st.booleans(),
    }
)
any_params = st.fixed_dictionaries(
    {
        "epochs": u16_around(MAX_EPOCHS),
        "seq_len": u16_around(MAX_SEQ_LEN),
        "batch_size": u16_around(MAX_BATCH_SIZE),
        "learning_rate_micros": st.sampled_from([0, 1, U32_MAX]) | st.integers(0, U32_MAX),
        "start_fresh": st.booleans(),
    }
)


cases = st.builds(
    Case,
    warp_to=st.sampled_from([None, None, YEAR_10_000 - 3, YEAR_300_000, CLOCK_END]),
    mirror_id=u64s,
    name=names,
    metadata_uri=uris,
    visibility=st.sampled_from(["Public", "Private"]),
    update=st.tuples(st.none() | names, st.none() | uris, st.none() | st.sampled_from(["Public", "Private"])),
    permissions=st.sampled_from([1, 2, 4, 8, 15]) | st.integers(1, 15) | st.sampled_from([0, 16, 128, 255]) | st.integers(0, 255),
    expires_at=st.sampled_from([0, NOW_PLUS_1, I64_MAX, YEAR_10_000, YEAR_300_000, 1, -1, I64_MIN]),
    dataset_cid=cids,
    params=valid_params | any_params,
    wrong_version=st.sampled_from([0, 2, U32_MAX]),
    model_cid=cids,
    weights_sha256=st.sampled_from(["00" * 32, "ff" * 32]) | st.binary(min_size=32, max_size=32).map(bytes.hex),
    metrics=st.tuples(u64s, u64s),
    reason_code=st.sampled_from([0, 1, 255, 256, U16_MAX]) | st.integers(0, U16_MAX),
    encryption_key=st.sampled_from(["00" * 32, "ff" * 32]) | st.binary(min_size=32, max_size=32).map(bytes.hex),
    handover=st.booleans(),
)

# --- one example's world: a node, a database, an indexer ----------------------------------------


@dataclass
class World:
    node: Localnet
    rpc: AsyncClient
    database_url: str
    indexer: Indexer
    task: asyncio.Task[None]


@asynccontextmanager
async def world(postgres_url: str, redis_url: str) -> AsyncIterator[World]:
    """A fresh bootstrapped localnet, a fresh migrated database and an in-process indexer following it."""
    node = Localnet(slot_ms=50, finality_depth=2).start()
    admin_conn = await asyncpg.connect(postgres_url)
    name = f"edge_{uuid.uuid4().hex[:12]}"
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    rpc = AsyncClient(node.rpc_url, commitment=Confirmed)
    task: asyncio.Task[None] | None = None
    try:
        await migrate(url)
        ix = Indexer(IndexerConfig(node.rpc_url, node.ws_url, MIRROR_PROGRAM_ID, url, redis_url))
        task = asyncio.create_task(ix.run())
        ready = asyncio.create_task(ix.live_ready.wait())
        await asyncio.wait([task, ready], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        assert not task.done(), f"the indexer stopped before going live: {task.exception() if not task.cancelled() else 'cancelled'}"
        assert ix.live_ready.is_set(), "the indexer did not go live within 60 s"
        yield World(node, rpc, url, ix, task)
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await rpc.close()
        node.stop()
        await admin_conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin_conn.close()


# --- sending, with the model's verdict checked at each step ----------------------------------------

ERRORS = {e["code"]: e["name"] for e in codec.default_codec().idl["errors"]}


class Script:
    """Sends instructions one by one (each executes when sent: no confirmation wait is needed
    for the next one to see its effect) and keeps a transcript for failure messages."""

    def __init__(self, rpc: AsyncClient, node: Localnet) -> None:
        self.rpc = rpc
        self.node = node
        self.transcript: list[str] = []
        self.config = codec.config_pda()

    async def funded(self) -> Keypair:
        kp = Keypair()
        await self.rpc.request_airdrop(kp.pubkey(), 5 * LAMPORTS)
        return kp

    async def now(self) -> int:
        return int((await raw(self.node, "mirror_warpClock", [{"seconds": 0}]))["result"]["unixTimestamp"])

    async def warp_to(self, unix: int) -> None:
        reply = await raw(self.node, "mirror_warpClock", [{"seconds": unix - await self.now(), "slots": 1}])
        assert "result" in reply, reply
        self.transcript.append(f"warped the clock to {reply['result']['unixTimestamp']}")

    async def send(
        self, ok: bool | None, name: str, args: dict[str, Any], accounts: dict[str, Any], *signers: Keypair, refusal: str | None = None
    ) -> bool:
        """Sends one instruction; True if the program accepted it. `ok` is the model's verdict
        (None: either is right); `refusal` the error name a refusal must carry, if known."""
        ix = codec.build_instruction(name, args, accounts)
        blockhash = (await self.rpc.get_latest_blockhash()).value.blockhash
        tx = Transaction(list(signers), Message([ix], signers[0].pubkey()), blockhash)
        shown = {
            k: (v[:24] + "..." if isinstance(v, str) and len(v) > 24 else str(v) if isinstance(v, Pubkey) else v) for k, v in args.items()
        }
        try:
            sig = (await self.rpc.send_transaction(VersionedTransaction.from_legacy(tx))).value
        except RPCException as err:
            match = re.search(r"custom program error: (0x[0-9a-f]+)", str(err))
            error = ERRORS.get(int(match.group(1), 16), match.group(1)) if match else str(err)[:300]
            self.transcript.append(f"{name}({shown!r}) refused: {error}")
            assert ok is not True, f"the program refused a valid {name}: {error}\n{self.show()}"
            assert refusal is None or error == refusal, f"{name} refused with {error}, expected {refusal}\n{self.show()}"
            return False
        self.transcript.append(f"{name}({shown!r}) accepted: {sig}")
        assert ok is not False, f"the program accepted an invalid {name}\n{self.show()}"
        return True

    def show(self) -> str:
        return "transcript:\n  " + "\n  ".join(self.transcript)


async def life(s: Script, case: Case, admin: Keypair, trainer: Keypair) -> None:
    """A mirror's whole life with the case's values, and every admin instruction."""
    owner, buyer = await s.funded(), await s.funded()
    grantee = Keypair().pubkey()
    cfg, trainer_account = s.config, codec.trainer_pda(trainer.pubkey())
    if case.warp_to is not None:
        await s.warp_to(case.warp_to)

    # create_mirror: a refused one leaves nothing, so the same id can then be created plainly.
    mirror = codec.mirror_pda(owner.pubkey(), case.mirror_id)
    create = {"config": cfg, "mirror": mirror, "creator": owner.pubkey()}
    valid = name_ok(case.name) and uri_ok(case.metadata_uri)
    args = {"mirror_id": case.mirror_id, "name": case.name, "metadata_uri": case.metadata_uri, "visibility": case.visibility}
    if not await s.send(valid, "create_mirror", args, create, owner):
        await s.send(True, "create_mirror", {**args, "name": "plain", "metadata_uri": ""}, create, owner)

    name, uri, vis = case.update
    await s.send(
        case.update_ok(),
        "update_mirror",
        {"name": name, "metadata_uri": uri, "visibility": vis},
        {"config": cfg, "mirror": mirror, "authority": owner.pubkey()},
        owner,
    )

    # grant_access: the expiry is checked against the clock at execution.
    now = await s.now()
    expires = min(now + 1, I64_MAX) if case.expires_at == NOW_PLUS_1 else int(case.expires_at)
    grant = codec.grant_pda(mirror, grantee)
    expiry_ok: bool | None = expires == 0 or expires > now
    if expires != 0 and abs(expires - now) <= 5:
        expiry_ok = None  # the clock may pass it before the transaction executes
    valid_perms = case.permissions != 0 and case.permissions & ~15 == 0
    granted = await s.send(
        False if not valid_perms else expiry_ok,
        "grant_access",
        {"grantee": grantee, "permissions": case.permissions, "expires_at": expires},
        {"config": cfg, "mirror": mirror, "grant": grant, "owner": owner.pubkey()},
        owner,
        refusal=None if not valid_perms else "InvalidExpiry",
    )

    # Jobs: 0 cancelled while Requested, 1 completed, 2 failed, 3 cancelled while Running, 4 Running, 5 Requested.
    def job_accounts(job_id: int) -> dict[str, Any]:
        return {"config": cfg, "mirror": mirror, "job": codec.job_pda(mirror, job_id), "requester": owner.pubkey()}

    async def request(job_id: int, cid: str = DATASET_CID, params: dict[str, int] = PARAMS) -> None:
        valid = cid_ok(cid) and params_ok(params)
        if not await s.send(valid, "request_training", {"dataset_cid": cid, "params": params}, job_accounts(job_id), owner):
            await s.send(True, "request_training", {"dataset_cid": DATASET_CID, "params": PARAMS}, job_accounts(job_id), owner)

    async def start(job_id: int) -> None:
        await s.send(
            True,
            "start_training",
            {},
            {
                "config": cfg,
                "mirror": mirror,
                "job": codec.job_pda(mirror, job_id),
                "trainer": trainer_account,
                "authority": trainer.pubkey(),
            },
            trainer,
        )

    async def cancel(job_id: int) -> None:
        await s.send(
            True, "cancel_training", {}, {"mirror": mirror, "job": codec.job_pda(mirror, job_id), "authority": owner.pubkey()}, owner
        )

    await request(0, case.dataset_cid, case.params)
    await cancel(0)

    await request(1)
    await start(1)

    def complete(version: int) -> dict[str, Any]:
        return {
            "config": cfg,
            "mirror": mirror,
            "job": codec.job_pda(mirror, 1),
            "model": codec.model_pda(mirror, version),
            "trainer": trainer_account,
            "authority": trainer.pubkey(),
        }

    metrics = {"final_loss_micros": case.metrics[0], "tokens_trained": case.metrics[1]}
    done = {"model_cid": case.model_cid, "weights_sha256": case.weights_sha256, "metrics": metrics}
    await s.send(False, "complete_training", {"version": case.wrong_version, **done}, complete(case.wrong_version), trainer)
    if not await s.send(cid_ok(case.model_cid), "complete_training", {"version": 1, **done}, complete(1), trainer):
        await s.send(True, "complete_training", {"version": 1, **done, "model_cid": MODEL_CID}, complete(1), trainer)

    await request(2)
    await start(2)
    fail = {"job": codec.job_pda(mirror, 2), "trainer": trainer_account, "authority": trainer.pubkey()}
    if not await s.send(
        case.reason_code != 0, "fail_training", {"reason_code": case.reason_code}, fail, trainer, refusal="InvalidFailureCode"
    ):
        await s.send(True, "fail_training", {"reason_code": 1}, fail, trainer)

    await request(3)
    await start(3)
    await cancel(3)
    await request(4)
    await start(4)
    await request(5)

    if granted:
        await s.send(True, "revoke_access", {}, {"mirror": mirror, "grant": grant, "owner": owner.pubkey()}, owner)

    # Trainers: register with the case's key (all zeros is refused), then deactivate.
    other = Keypair().pubkey()
    other_account = codec.trainer_pda(other)
    admin_accounts = {"config": cfg, "trainer": other_account, "admin": admin.pubkey()}
    if await s.send(
        case.encryption_key != "00" * 32,
        "register_trainer",
        {"authority": other, "encryption_key": case.encryption_key},
        admin_accounts,
        admin,
        refusal="InvalidEncryptionKey",
    ):
        await s.send(True, "deactivate_trainer", {}, admin_accounts, admin)

    # Pause: a create is refused while paused; always unpaused after.
    await s.send(True, "set_paused", {"paused": True}, {"config": cfg, "admin": admin.pubkey()}, admin)
    try:
        paused = codec.mirror_pda(owner.pubkey(), case.mirror_id ^ 1)
        await s.send(
            False,
            "create_mirror",
            {**args, "mirror_id": case.mirror_id ^ 1, "name": "paused", "metadata_uri": ""},
            {"config": cfg, "mirror": paused, "creator": owner.pubkey()},
            owner,
            refusal="ProgramPaused",
        )
    finally:
        await s.send(True, "set_paused", {"paused": False}, {"config": cfg, "admin": admin.pubkey()}, admin)

    if case.handover:
        await handover(s, admin)

    # transfer_mirror (the default address is refused), then the buyer freezes it; a frozen mirror refuses updates.
    transfer = {"config": cfg, "mirror": mirror, "owner": owner.pubkey()}
    await s.send(False, "transfer_mirror", {"new_owner": DEFAULT_PUBKEY}, transfer, owner, refusal="InvalidNewOwner")
    await s.send(True, "transfer_mirror", {"new_owner": buyer.pubkey()}, transfer, owner)
    await s.send(True, "freeze_mirror", {}, {"mirror": mirror, "owner": buyer.pubkey()}, buyer)
    await s.send(
        False,
        "update_mirror",
        {"name": "late", "metadata_uri": None, "visibility": None},
        {"config": cfg, "mirror": mirror, "authority": buyer.pubkey()},
        buyer,
        refusal="MirrorFrozen",
    )


async def handover(s: Script, admin: Keypair) -> None:
    """propose_admin / accept_admin, with their refusals, and the admin role handed back."""
    successor, stranger = await s.funded(), await s.funded()

    def config_by(signer: Keypair, role: str) -> dict[str, Any]:
        return {"config": s.config, role: signer.pubkey()}

    await s.send(False, "accept_admin", {}, config_by(stranger, "new_admin"), stranger, refusal="NoPendingAdmin")
    await s.send(True, "propose_admin", {"new_admin": DEFAULT_PUBKEY}, config_by(admin, "admin"), admin)  # withdraw: nothing pending
    await s.send(True, "propose_admin", {"new_admin": successor.pubkey()}, config_by(admin, "admin"), admin)
    await s.send(False, "accept_admin", {}, config_by(stranger, "new_admin"), stranger, refusal="NotPendingAdmin")
    await s.send(True, "accept_admin", {}, config_by(successor, "new_admin"), successor)
    await s.send(True, "propose_admin", {"new_admin": admin.pubkey()}, config_by(successor, "admin"), successor)
    await s.send(True, "accept_admin", {}, config_by(admin, "new_admin"), admin)


# --- the checks --------------------------------------------------------------------------------


async def check_the_read_models(w: World, s: Script) -> None:
    """The canary is indexed (the indexer is live), the database holds exactly the chain's
    events, reconcile finds no drift, and nothing was skipped."""
    canary_owner = await s.funded()
    canary = codec.mirror_pda(canary_owner.pubkey(), 7)
    await s.send(
        True,
        "create_mirror",
        {"mirror_id": 7, "name": "canary", "metadata_uri": "", "visibility": "Public"},
        {"config": s.config, "mirror": canary, "creator": canary_owner.pubkey()},
        canary_owner,
    )
    db = await asyncpg.connect(w.database_url)
    try:

        async def canary_indexed() -> bool:
            return bool(await db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(canary)))

        try:
            await eventually(canary_indexed, 20, "the canary mirror in the mirrors table")
        except AssertionError as err:
            postgres_errors = w.indexer.metrics.errors.labels("postgres")._value.get()
            dead = w.task.done() and not w.task.cancelled() and w.task.exception()
            skips = [dict(r) for r in await db.fetch("SELECT signature, reason, detail FROM skipped_items")]
            raise AssertionError(
                f"the indexer is stuck: {err}; 'PostgreSQL unavailable' retries counted: {postgres_errors}; "
                f"indexer task died: {dead!r}; skipped_items: {skips}\n{s.show()}"
            ) from None
        skips = [dict(r) for r in await db.fetch("SELECT signature, event_index, reason, detail FROM skipped_items")]
        assert skips == [], f"skipped_items holds {skips}\n{s.show()}"
        # The example reached every status (reconcile below shows each is what the chain says).
        jobs = {r["status"] for r in await db.fetch("SELECT DISTINCT status FROM training_jobs")}
        mirrors = {r["status"] for r in await db.fetch("SELECT DISTINCT status FROM mirrors")}
        assert jobs == {"Requested", "Running", "Completed", "Failed", "Cancelled"} and mirrors == {"Active", "Frozen"}, (jobs, mirrors)
    finally:
        await db.close()
    try:
        await assert_exactly_the_chain(w.database_url, w.node.rpc_url, timeout=20)
    except AssertionError as err:
        raise AssertionError(f"{err}\n{s.show()}") from None
    assert not w.task.done(), f"the indexer stopped: {w.task}\n{s.show()}"


async def run_case(case: Case, postgres_url: str, redis_url: str) -> None:
    admin, trainer = dev_keypair("admin"), dev_keypair("trainer")
    async with world(postgres_url, redis_url) as w:
        s = Script(w.rpc, w.node)
        await life(s, case, admin, trainer)
        await check_the_read_models(w, s)


# --- the property --------------------------------------------------------------------------------

PLAIN = Case()


@settings(
    max_examples=30,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(case=replace(PLAIN, expires_at=I64_MAX))
@example(case=replace(PLAIN, expires_at=YEAR_10_000))
@example(case=replace(PLAIN, mirror_id=U64_MAX, name=MATH_M * 8, metadata_uri=MATH_M * 32))
@example(case=replace(PLAIN, warp_to=YEAR_300_000, expires_at=YEAR_300_000 + 1))
@example(case=replace(PLAIN, warp_to=CLOCK_END, expires_at=I64_MAX))
@example(
    case=replace(
        PLAIN,
        mirror_id=0,
        permissions=0,
        expires_at=I64_MIN,
        reason_code=0,
        encryption_key="00" * 32,
        params={"epochs": 0, "seq_len": U16_MAX, "batch_size": 0, "learning_rate_micros": 0, "start_fresh": False},
        update=(None, None, None),
    )
)
@example(
    case=replace(
        PLAIN,
        metrics=(U64_MAX, U64_MAX),
        weights_sha256="ff" * 32,
        reason_code=U16_MAX,
        encryption_key="ff" * 32,
        params={
            "epochs": MAX_EPOCHS,
            "seq_len": MAX_SEQ_LEN,
            "batch_size": MAX_BATCH_SIZE,
            "learning_rate_micros": U32_MAX,
            "start_fresh": True,
        },
        dataset_cid="z" * CID_MAX,
        model_cid="1",
    )
)
@given(case=cases)
def test_every_instruction_at_the_edges_of_its_types(case: Case, postgres: Postgres, redis_server: Redis) -> None:
    asyncio.run(run_case(case, postgres.url, redis_server.url))


# --- regression examples: kept as plain tests ----------------------------------------------------


async def test_a_grant_that_expires_at_i64_max(postgres: Postgres, redis_server: Redis) -> None:
    """The report: the indexer looped on "[Errno 75] Value too large" and never moved again."""
    await run_case(replace(PLAIN, expires_at=I64_MAX), postgres.url, redis_server.url)


async def test_a_grant_that_expires_in_the_year_10_000(postgres: Postgres, redis_server: Redis) -> None:
    """The report: the grant became an apply_error and stayed out of the read models."""
    await run_case(replace(PLAIN, expires_at=YEAR_10_000), postgres.url, redis_server.url)


async def test_the_largest_ids_and_the_longest_4_byte_strings(postgres: Postgres, redis_server: Redis) -> None:
    case = replace(
        PLAIN,
        mirror_id=U64_MAX,
        name=MATH_M * 8,
        metadata_uri=MATH_M * 32,
        metrics=(U64_MAX, U64_MAX),
        update=("\u202e" + MATH_M * 7, "\u0301" * 64, "Public"),
        reason_code=U16_MAX,
    )
    await run_case(case, postgres.url, redis_server.url)


async def test_a_whole_life_in_the_year_300_000(postgres: Postgres, redis_server: Redis) -> None:
    """Every timestamp of every event past PostgreSQL's timestamptz range (and Python's datetime)."""
    await run_case(replace(PLAIN, warp_to=YEAR_300_000, expires_at=I64_MAX), postgres.url, redis_server.url)


async def test_a_whole_life_at_the_end_of_the_clock(postgres: Postgres, redis_server: Redis) -> None:
    """Every timestamp (and block time) in the last seconds an i64 holds."""
    await run_case(replace(PLAIN, warp_to=CLOCK_END, expires_at=NOW_PLUS_1), postgres.url, redis_server.url)
