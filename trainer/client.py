"""The owner's side of training: ``python -m trainer.client request|follow|cancel``, and the Python
API (``OwnerClient``) the commands call.

``request`` keeps the dataset private end to end, and refuses what would be refused before
anything is stored or paid for:

1. the file is read on the owner's machine and, with ``--anonymise``, personal identifiers are
   replaced there (trainer.anonymize; the counts are shown);
2. what would be sealed goes through trainer.dataset.validate_dataset, the trainer's own check
   (``DatasetRefused`` with its reason); the mirror must exist and be Active, the program not
   paused, and the signer its owner or the holder of an effective TRAIN grant
   (``check_may_request``);
3. the active Trainer accounts are read from chain, each published X25519 key is checked (32 bytes,
   a usable curve point), and the dataset is sealed to all of them (trainer.envelope), so whichever
   trainer claims the job can open it and nobody else can;
4. the envelope goes into the content store (mirror_common.ipfs: Kubo or the embedded store);
5. ``request_training`` is sent with the envelope's CID and the parameters.

``follow`` polls the job account on chain and shows its progress until it ends: exit code 0 when
Completed, 1 when Failed (with the reason code's name) or Cancelled, 2 when the command itself
failed (a refused transaction, a bad argument, an unreachable node). While the job is Running it
also reads the GraphQL API's ``trainingProgress`` (``--api``; the trainer's reports, about once a
second) and shows the step, loss, tokens/s and an ETA; with no answer from the API it shows the
job's stage only, and says so once. ``cancel`` sends
``cancel_training`` (the mirror's owner or the job's requester).

This module does not import the training stack (torch): it runs on an owner's laptop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bar
from rich.text import Text
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.config import settings
from mirror_common.ipfs import ContentError, ContentStore, open_store
from mirror_common.retry import RECONNECT, Backoff
from mirror_common.wallet import Wallet, WalletError
from trainer.anonymize import KINDS, anonymise
from trainer.dataset import DatasetError, decode_text, validate_dataset
from trainer.envelope import MAX_RECIPIENTS, seal
from trainer.failures import FailCode

DEFAULT_KEYPAIR = Path.home() / ".config" / "solana" / "id.json"  # the Solana CLI's default wallet
ENDED = ("Completed", "Failed", "Cancelled")
JOB_ID_TAKEN = ("ConstraintSeeds", "Custom(0)")  # Anchor's seeds check; the system program's "account already in use"
STAGES = {"Requested": 1, "Running": 2, "Completed": 3, "Failed": 3, "Cancelled": 3}
# programs/mirror/src/constants.rs: what request_training accepts
PERM_TRAIN = 4  # programs/mirror/src/constants.rs: the grant permission request_training needs
PARAM_BOUNDS = {"epochs": 1_000, "seq_len": 8_192, "batch_size": 4_096, "learning_rate_micros": 2**32 - 1}
API_TIMEOUT_S = 2.0  # a progress read that takes longer is given up: the chain's state is shown on time
PROGRESS_LINE_S = 10.0  # off a terminal (no live bar): a progress line at most this often


class ClientError(Exception):
    """A request that cannot be made as asked (bad input, no trainer to seal to, a refusal)."""


class DatasetRefused(ClientError):
    """A dataset a trainer would refuse; ``reason`` is the daemon's (trainer.dataset.REASONS)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"the dataset would be refused by trainers ({reason}): {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TrainingParams:
    """The on-chain TrainingParams. ``start_fresh``: train from scratch rather than continue
    from the mirror's latest model (the trainer records the choice in the artifact's lineage)."""

    epochs: int = 1
    seq_len: int = 128
    batch_size: int = 16
    learning_rate_micros: int = 1_000
    start_fresh: bool = False

    def __post_init__(self) -> None:
        for name, high in PARAM_BOUNDS.items():
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= high:
                raise ClientError(f"{name} must be an integer in [1, {high}], not {value!r}")
        if type(self.start_fresh) is not bool:
            raise ClientError(f"start_fresh must be True or False, not {self.start_fresh!r}")


@dataclass(frozen=True, slots=True)
class TrainerKey:
    """An active trainer and the X25519 key its account publishes."""

    account: str
    authority: str
    encryption_key: bytes


@dataclass(frozen=True, slots=True)
class Requested:
    job: str
    job_id: int
    mirror: str
    dataset_cid: str
    signature: str
    params: TrainingParams
    trainers: list[TrainerKey]
    skipped_trainers: list[str]  # active trainers whose published key cannot be sealed to
    dataset_bytes: int  # what was sealed (after anonymisation)
    envelope_bytes: int
    anonymised: dict[str, int] | None  # counts per kind, None when not asked

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["trainers"] = [t.authority for t in self.trainers]
        return out


@dataclass(frozen=True, slots=True)
class JobState:
    """A TrainingJob account as the chain holds it."""

    address: str
    mirror: str
    job_id: int
    status: str
    trainer: str | None
    dataset_cid: str
    model_cid: str
    failure_code: int
    final_loss_micros: int
    tokens_trained: int
    requested_at: int
    started_at: int
    finished_at: int
    params: dict[str, int | bool] = field(default_factory=dict)

    @staticmethod
    def of(address: str, fields: dict[str, Any]) -> JobState:
        trainer = str(fields["trainer"])
        return JobState(
            address=address,
            mirror=str(fields["mirror"]),
            job_id=int(fields["job_id"]),
            status=str(fields["status"]),
            trainer=None if trainer == str(Pubkey.default()) else trainer,
            dataset_cid=str(fields["dataset_cid"]),
            model_cid=str(fields["model_cid"]),
            failure_code=int(fields["failure_code"]),
            final_loss_micros=int(fields["metrics"]["final_loss_micros"]),
            tokens_trained=int(fields["metrics"]["tokens_trained"]),
            requested_at=int(fields["requested_at"]),
            started_at=int(fields["started_at"]),
            finished_at=int(fields["finished_at"]),
            params={k: v if isinstance(v, bool) else int(v) for k, v in fields["params"].items()},
        )

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def failure(self) -> str:
        """The fail_training reason code's name (trainer/failures.py)."""
        try:
            return FailCode(self.failure_code).name
        except ValueError:
            return f"code {self.failure_code}"


class OwnerClient:
    """Requests, follows and cancels training jobs for one wallet."""

    def __init__(self, wallet: Wallet, store: ContentStore, signer: Keypair | None, *, max_dataset: int | None = None) -> None:
        self.wallet = wallet
        self.store = store
        self.signer = signer  # None: read-only (follow)
        self.max_dataset = max_dataset if max_dataset is not None else settings().trainer_max_dataset

    def _signer(self) -> Keypair:
        if self.signer is None:
            raise ClientError("this needs a signing wallet (--keypair)")
        return self.signer

    async def active_trainers(self) -> tuple[list[TrainerKey], list[str]]:
        """(trainers a dataset can be sealed to, authorities of active trainers whose key is unusable)."""
        usable: list[TrainerKey] = []
        skipped: list[str] = []
        for account, fields in await self.wallet.program_accounts("Trainer"):
            if fields.get("active") is not True:
                continue
            key = _key_bytes(fields.get("encryption_key"))
            trainer = TrainerKey(str(account), str(fields["authority"]), key or b"")
            if key is None or not _sealable(key):
                skipped.append(trainer.authority)
            else:
                usable.append(trainer)
        usable.sort(key=lambda t: t.authority)  # the same set seals in the same order
        return usable[:MAX_RECIPIENTS], skipped + [t.authority for t in usable[MAX_RECIPIENTS:]]

    def prepare(self, dataset: bytes, *, anonymise_it: bool) -> tuple[bytes, dict[str, int] | None]:
        """The bytes to seal: the dataset, anonymised if asked. ``DatasetRefused`` for what a trainer
        would refuse (trainer.dataset, the very function the daemon runs on what it opens): better
        to say so before anything is stored or paid for."""
        counts = None
        try:
            if anonymise_it:
                cleaned, counts = anonymise(decode_text(dataset))
                dataset = cleaned.encode("utf-8")
            validate_dataset(dataset, self.max_dataset)
        except DatasetError as e:
            raise DatasetRefused(e.reason, e.detail) from None
        return dataset, counts

    async def check_may_request(self, mirror: Pubkey, requester: Pubkey) -> None:
        """What the program will check of a request that can be known before anything is stored:
        an Active mirror, a program not paused, a requester that is the owner or holds an effective
        TRAIN grant (``Mirror::require_authority``). The program still has the last word; this is
        so that a request it would refuse leaves no envelope behind."""
        state = await self.wallet.account_or_none(mirror, "Mirror")
        if state is None:
            raise ClientError(f"there is no mirror at {mirror}")
        if str(state["status"]) != "Active":
            raise ClientError(f"mirror {mirror} is {state['status']}: it cannot be trained")
        config = await self.wallet.account_or_none(codec.config_pda(), "Config")
        if config is None:
            raise ClientError("the Mirror program has no Config account (not initialised)")
        if config["paused"] is True:
            raise ClientError("the Mirror program is paused: no training can be requested now")
        if str(state["owner"]) != str(requester):
            await self._check_grant(mirror, state, requester)

    async def _check_grant(self, mirror: Pubkey, state: dict[str, Any], signer: Pubkey) -> None:
        grant = await self.wallet.account_or_none(codec.grant_pda(mirror, signer), "AccessGrant")
        refused = f"{signer} is not the owner of mirror {mirror}"
        if grant is None:
            raise ClientError(f"{refused} and holds no grant on it")
        if str(grant["granted_by"]) != str(state["owner"]):
            raise ClientError(f"{refused}, and its grant was made by a previous owner")
        if int(grant["permissions"]) & PERM_TRAIN != PERM_TRAIN:
            raise ClientError(f"{refused}, and its grant does not include TRAIN")
        expires_at = int(grant["expires_at"])
        if expires_at != 0 and await self.wallet.chain_time() >= expires_at:
            raise ClientError(f"{refused}, and its grant expired at {expires_at}")

    async def request_training(
        self, mirror: str, dataset: bytes, params: TrainingParams, *, anonymise_it: bool = False, attempts: int = 3
    ) -> Requested:
        """Checks everything it can (the address, the dataset, ``check_may_request``, a trainer to seal
        to) before the envelope is stored, then stores it and sends ``request_training``."""
        if not isinstance(params, TrainingParams):
            raise ClientError(f"params must be TrainingParams, not {type(params).__name__}")
        mirror_key = _pubkey(mirror, "mirror")
        signer = self._signer()
        plaintext, counts = self.prepare(dataset, anonymise_it=anonymise_it)
        await self.check_may_request(mirror_key, signer.pubkey())
        trainers, skipped = await self.active_trainers()
        if not trainers:
            raise ClientError("no active trainer publishes a usable encryption key: nobody could open the dataset")
        envelope = seal(plaintext, [t.encryption_key for t in trainers])
        try:
            cid = await self.store.put(envelope)
        except (ContentError, OSError) as e:
            raise ClientError(f"the content store refused the dataset: {e}") from e
        attempt = 0
        while True:
            attempt += 1
            state = await self.wallet.account(mirror_key, "Mirror")
            job_id = int(state["job_count"])
            job = codec.job_pda(mirror_key, job_id)
            accounts: dict[str, Any] = {"config": codec.config_pda(), "mirror": mirror_key, "job": job, "requester": signer.pubkey()}
            if str(state["owner"]) != str(signer.pubkey()):
                accounts["grant"] = codec.grant_pda(mirror_key, signer.pubkey())  # a grantee's TRAIN permission (the program checks it)
            try:
                signature = await self.wallet.send("request_training", {"dataset_cid": cid, "params": asdict(params)}, accounts, signer)
            except WalletError as e:
                # Another request took this job id between our read and our send: the job PDA no
                # longer matches the mirror's job_count. Read again and retry.
                if e.program_error in JOB_ID_TAKEN and attempt < attempts:
                    continue
                raise
            return Requested(
                job=str(job),
                job_id=job_id,
                mirror=str(mirror_key),
                dataset_cid=cid,
                signature=signature,
                params=params,
                trainers=trainers,
                skipped_trainers=skipped,
                dataset_bytes=len(plaintext),
                envelope_bytes=len(envelope),
                anonymised=counts,
            )

    async def job(self, job: str) -> JobState:
        return JobState.of(job, await self.wallet.account(_pubkey(job, "job"), "TrainingJob"))

    async def follow(
        self,
        job: str,
        on_change: Callable[[JobState], None] = lambda _: None,
        *,
        poll_s: float = 1.0,
        on_unreachable: Callable[[WalletError], None] = lambda _: None,
        progress: ProgressApi | None = None,
        on_progress: Callable[[Reported | None], None] = lambda _: None,
    ) -> JobState:
        """Polls the job until it ends; ``on_change`` sees every new state (the first one too).
        While the node is unreachable it keeps trying (``on_unreachable`` is told each time).
        While the job is Running, ``on_progress`` sees what ``progress`` reads at each poll (None: nothing known)."""
        low, high = POLL_RANGE_S
        if not low <= poll_s <= high:  # nan or inf would sleep forever, 0 or less read the node in a tight loop
            raise ValueError(f"poll_s must be from {low:g} to {high:g} seconds, not {poll_s!r}")
        last: JobState | None = None
        backoff = Backoff(RECONNECT)
        while True:
            try:
                state = await self.job(job)
            except WalletError as e:
                if not e.unreachable:
                    raise
                on_unreachable(e)
                await backoff.wait()
                continue
            backoff.reset()
            if state != last:
                on_change(state)
                last = state
            if state.ended:
                return state
            if progress is not None and state.status == "Running":
                on_progress(await progress.read(job))
            await asyncio.sleep(poll_s)

    async def cancel(self, job: str) -> str:
        signer = self._signer()
        state = await self.job(job)
        return await self.wallet.send(
            "cancel_training",
            {},
            {"mirror": Pubkey.from_string(state.mirror), "job": Pubkey.from_string(job), "authority": signer.pubkey()},
            signer,
        )


@dataclass(frozen=True, slots=True)
class Reported:
    """A job's training progress as the API's ``trainingProgress`` gives it."""

    step: int
    steps: int
    tokens: int
    loss: float | None
    tokens_per_second: float | None

    @staticmethod
    def of(found: dict[str, Any]) -> Reported:
        """``ValueError`` (or ``KeyError``/``TypeError``) for an answer that is not one."""
        step, steps, tokens = int(found["step"]), int(found["steps"]), int(found["tokens"])
        if not 0 <= step <= steps or steps < 1 or tokens < 0:
            raise ValueError(f"step {step} of {steps}, {tokens} tokens")
        loss, rate = found["loss"], found["tokensPerSecond"]
        return Reported(step, steps, tokens, None if loss is None else float(loss), None if rate is None else float(rate))


class ProgressApi:
    """``trainingProgress`` from the GraphQL API over HTTP. ``read`` never raises: None when the API knows
    nothing, and None when it cannot be reached or answers with an error, when ``on_unavailable`` is told
    why (once, until it answers again). Each HTTP call has ``API_TIMEOUT_S`` in all, not per phase.

    With a ``signer``, it signs in first (Sign-In With Solana: ``/auth/nonce``, then ``/auth/verify``) and
    asks with the token: the API shows a private mirror's progress only to its owner and VIEW grantees.
    A sign-in that fails is told once and the reads go on anonymously; a refused token is dropped and
    the next read signs in again (tokens expire)."""

    QUERY = "query TrainingProgress($job: Address!) { trainingProgress(job: $job) { step steps tokens loss tokensPerSecond } }"

    def __init__(
        self, url: str, http: httpx.AsyncClient, on_unavailable: Callable[[str], None] = lambda _: None, *, signer: Keypair | None = None
    ) -> None:
        self.url = url
        self.http = http
        self.on_unavailable = on_unavailable
        self.signer = signer
        self.available = True
        self._token: str | None = None
        self._sign_in_failed = False

    async def read(self, job: str) -> Reported | None:
        try:
            if self.signer is not None and self._token is None and not self._sign_in_failed:
                await self._sign_in(self.signer)
            headers = {"authorization": f"Bearer {self._token}"} if self._token else {}
            body = await self._post(self.url, {"query": self.QUERY, "variables": {"job": job}}, headers)
            found = body["data"]["trainingProgress"]
            value = Reported.of(found) if found is not None else None
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as e:
            self._token = None  # refused or not: a new one next time costs one sign-in
            self._unavailable(str(e) or type(e).__name__)
            return None
        self.available = True
        return value

    async def _sign_in(self, signer: Keypair) -> None:
        try:
            nonce = await self._post(self._auth("nonce"), {"address": str(signer.pubkey())}, {})
            message = str(nonce["message"])
            verified = await self._post(
                self._auth("verify"), {"message": message, "signature": str(signer.sign_message(message.encode()))}, {}
            )
            self._token = str(verified["token"])
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, ValueError, KeyError, TypeError, AttributeError) as e:
            self._sign_in_failed = True  # once: a second factor or another API's domain will not change by itself
            self._unavailable(f"signing in failed ({str(e) or type(e).__name__}); a private mirror's progress is not shown")

    async def _post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> Any:
        async with asyncio.timeout(API_TIMEOUT_S):  # httpx's timeout is per phase: a trickling server would hold us
            answer = await self.http.post(url, json=payload, headers=headers)
            body = answer.json()
        if answer.status_code != 200 or (isinstance(body, dict) and body.get("errors")):
            raise ValueError(f"HTTP {answer.status_code}: {str(body.get('errors') if isinstance(body, dict) else body)[:200]}")
        return body

    def _auth(self, step: str) -> str:
        return str(httpx.URL(self.url).copy_with(path=f"/auth/{step}", query=None))

    def _unavailable(self, why: str) -> None:
        if self.available:
            self.available = False
            self.on_unavailable(why)


def _pubkey(address: str, what: str) -> Pubkey:
    try:
        return Pubkey.from_string(address)
    except ValueError:
        raise ClientError(f"{what} {address!r} is not a base58 address") from None


def _key_bytes(value: Any) -> bytes | None:
    try:
        key = bytes.fromhex(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return key if key is not None and len(key) == 32 else None


def _sealable(key: bytes) -> bool:
    """Whether a published key is a point we can seal to (not zero, not of low order)."""
    try:
        seal(b"", [key])
    except ValueError:
        return False
    return True


# -- the command line ------------------------------------------------------------------------


class _TrainingEta(TimeRemainingColumn):
    """rich's estimate of the time left, while the bar counts training steps (not the job's three stages)."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.fields.get("training") else Text("")


class Progress:
    """The follow display: a line per change of state, and a live bar on a terminal (rich): the job's
    stage, or while it trains (``reported``) its step of all, loss, tokens/s and rich's ETA. Off a
    terminal, where no bar is drawn, a progress line instead, at most every ``line_every_s`` seconds."""

    def __init__(self, job: str, stream: Any = None, *, terminal: bool | None = None, line_every_s: float = PROGRESS_LINE_S) -> None:
        self.console = Console(file=stream or sys.stderr, highlight=False, force_terminal=terminal)
        self.bar = Bar(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            _TrainingEta(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.job = job
        self.task = self.bar.add_task(f"job {job[:8]}…", total=3, training=False)
        self.started = time.monotonic()
        self.training: Reported | None = None  # the last report shown while the bar counts steps
        self.line_every_s = line_every_s
        self.line_at = -float("inf")

    def __enter__(self) -> Progress:
        self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.bar.stop()

    def change(self, state: JobState) -> None:
        stage = STAGES.get(state.status, 0)
        if self.training is not None:  # from steps back to stages
            self.training = None
            self.bar.reset(self.task, total=3, completed=stage, training=False)
        self.bar.update(self.task, completed=stage, description=f"{state.status:<9} job {state.address[:8]}…")
        detail = {
            "Requested": "waiting for a trainer to claim it",
            "Running": f"claimed by trainer {state.trainer}",
            "Completed": f"model {state.model_cid}, final loss {state.final_loss_micros / 1e6:.4f}, {state.tokens_trained} tokens",
            "Failed": f"reason {state.failure} ({state.failure_code})",
            "Cancelled": "cancelled",
        }.get(state.status, "")
        self.console.print(f"[{time.monotonic() - self.started:6.1f}s] {state.status}: {detail}", soft_wrap=True)

    def unreachable(self, error: WalletError) -> None:
        self.console.print(f"node unreachable, still trying: {error}", soft_wrap=True)

    def reported(self, progress: Reported | None) -> None:
        """The trainer's latest report, while the job is Running (None: nothing known, the stage stays)."""
        if progress is None:
            return
        loss = f"loss {progress.loss:.4f}" if progress.loss is not None else "loss -"
        rate = f"{progress.tokens_per_second:,.0f} tokens/s" if progress.tokens_per_second is not None else "- tokens/s"
        description = f"Running   job {self.job[:8]}… {loss}, {rate}"
        if self.training is None or progress.step < self.training.step:  # training starts (or starts over): a fresh speed estimate
            self.bar.reset(self.task, total=progress.steps, completed=progress.step, description=description, training=True)
        else:
            self.bar.update(self.task, total=progress.steps, completed=progress.step, description=description)
        self.training = progress
        now = time.monotonic()
        if not self.console.is_terminal and (now - self.line_at >= self.line_every_s or progress.step == progress.steps):
            self.line_at = now
            left = next(t.time_remaining for t in self.bar.tasks if t.id == self.task)
            eta = f", ETA {_clock(left)}" if left is not None else ""
            self.console.print(
                f"[{now - self.started:6.1f}s] step {progress.step}/{progress.steps}, {loss}, {rate}{eta}", soft_wrap=True, markup=False
            )

    def api_unavailable(self, why: str) -> None:
        self.console.print(f"training progress unavailable from the API, showing the job's stage only: {why}", soft_wrap=True, markup=False)


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _read_keypair(path: Path) -> Keypair:
    try:
        return Keypair.from_bytes(bytes(json.loads(path.read_text())))
    except FileNotFoundError:
        raise ClientError(f"no keypair at {path} (pass --keypair)") from None
    except (ValueError, TypeError) as e:
        raise ClientError(f"{path} is not a Solana keypair file (a JSON array of 64 bytes): {e}") from None


POLL_RANGE_S = (0.1, 3600.0)  # below: a tight loop against the node; above: a follow that looks hung


def _poll_seconds(text: str) -> float:
    """``--poll``: a finite number of seconds in ``POLL_RANGE_S`` (nan and inf would sleep forever, a
    negative or zero one would read the node in a tight loop)."""
    low, high = POLL_RANGE_S
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not low <= value <= high:  # False for nan too
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds from {low:g} to {high:g}")
    return value


def _param(name: str) -> Callable[[str], int]:
    """An integer option in the range request_training accepts (``PARAM_BOUNDS``), checked by argparse."""
    high = PARAM_BOUNDS[name]

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not 1 <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: {name} must be from 1 to {high}")
        return value

    return parse


API_HELP = "the GraphQL API to read training progress from (default: http://API_HOST:API_PORT/graphql; '' not to ask)"


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rpc-url", default=None, help="JSON-RPC endpoint (default: MIRROR_RPC_URL)")
    common.add_argument("--keypair", type=Path, default=DEFAULT_KEYPAIR, help=f"the signing wallet (default: {DEFAULT_KEYPAIR})")
    common.add_argument(
        "--poll", type=_poll_seconds, default=1.0, help="seconds between reads of the job while following, 0.1 to 3600 (default 1)"
    )
    p = argparse.ArgumentParser(prog="python -m trainer.client", description="Request, follow and cancel training of a mirror.")
    sub = p.add_subparsers(dest="command", required=True)

    request = sub.add_parser("request", parents=[common], help="seal a dataset to the active trainers, store it and request training")
    request.add_argument("--mirror", required=True, help="the mirror's address")
    request.add_argument("--dataset", required=True, type=Path, help="a UTF-8 text file")
    request.add_argument("--anonymise", "--anonymize", action="store_true", help="replace e-mails, phones, cards and IPs first")
    defaults = TrainingParams()
    request.add_argument("--epochs", type=_param("epochs"), default=defaults.epochs)
    request.add_argument("--seq-len", type=_param("seq_len"), default=defaults.seq_len)
    request.add_argument("--batch-size", type=_param("batch_size"), default=defaults.batch_size)
    request.add_argument(
        "--lr-micros", type=_param("learning_rate_micros"), default=defaults.learning_rate_micros, help="learning rate in millionths"
    )
    request.add_argument(
        "--fresh", action="store_true", help="train from scratch instead of continuing from the mirror's latest model (start_fresh)"
    )
    request.add_argument("--follow", action="store_true", help="then follow the job until it ends")
    request.add_argument("--api", default=None, help=API_HELP)
    request.add_argument("--json", action="store_true", help="print the request as one JSON object")

    follow = sub.add_parser("follow", parents=[common], help="show a job's progress until it ends (exit 0 when Completed)")
    follow.add_argument("--job", required=True)
    follow.add_argument("--api", default=None, help=API_HELP)

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a job that has not ended")
    cancel.add_argument("--job", required=True)
    return p


async def run(args: argparse.Namespace) -> int:
    s = settings()
    rpc = AsyncClient(args.rpc_url or s.mirror_rpc_url)
    store = open_store(s)
    try:
        # follow signs with the wallet only to read a private mirror's progress from the API: optional.
        keypair = _read_keypair(args.keypair) if args.command != "follow" or args.keypair.is_file() else None
        client = OwnerClient(Wallet(rpc), store, keypair)
        if args.command == "request":
            return await _request(client, args)
        if args.command == "follow":
            return await _follow(client, args.job, args.poll, args.api)
        signature = await client.cancel(args.job)
        print(f"cancelled job {args.job}: {signature}")
        return 0
    finally:
        await rpc.close()
        await store.close()


async def _request(client: OwnerClient, args: argparse.Namespace) -> int:
    try:
        dataset = await asyncio.to_thread(args.dataset.read_bytes)
    except OSError as e:
        raise ClientError(f"cannot read the dataset: {e}") from None
    params = TrainingParams(args.epochs, args.seq_len, args.batch_size, args.lr_micros, start_fresh=args.fresh)
    done = await client.request_training(args.mirror, dataset, params, anonymise_it=args.anonymise)
    if args.json:
        print(json.dumps(done.summary(), sort_keys=True))
    else:
        if done.anonymised is not None:
            print("anonymised: " + ", ".join(f"{done.anonymised[k]} {k}" for k in KINDS))
        print(f"sealed {done.dataset_bytes} bytes to {len(done.trainers)} trainer(s): {', '.join(t.authority for t in done.trainers)}")
        for authority in done.skipped_trainers:
            print(f"skipped trainer {authority}: its published key cannot be sealed to", file=sys.stderr)
        print(f"dataset {done.dataset_cid} ({done.envelope_bytes} bytes)")
        print(f"job {done.job} (#{done.job_id} of mirror {done.mirror}), signature {done.signature}")
        if done.params.start_fresh:
            print("start fresh: the trainer will not continue from the mirror's current model")
    sys.stdout.flush()
    return await _follow(client, done.job, args.poll, args.api) if args.follow else 0


async def _follow(client: OwnerClient, job: str, poll_s: float, api_url: str | None) -> int:
    if api_url is None:
        s = settings()
        api_url = f"http://{f'[{s.api_host}]' if ':' in s.api_host else s.api_host}:{s.api_port}/graphql"
    async with httpx.AsyncClient() as http:
        with Progress(job) as display:
            api = ProgressApi(api_url, http, display.api_unavailable, signer=client.signer) if api_url else None
            final = await client.follow(
                job, display.change, poll_s=poll_s, on_unreachable=display.unreachable, progress=api, on_progress=display.reported
            )
    if final.status == "Completed":
        print(f"Completed: model {final.model_cid}")
        return 0
    print(f"Failed: {final.failure} ({final.failure_code})" if final.status == "Failed" else final.status)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (ClientError, WalletError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
