"""The trainer daemon: from a ``TrainRequested`` event to a model version on chain.

Read top to bottom, one job goes through:

1. **find**: Requested jobs from the read models (``training_jobs``), requesters in turn,
   woken by the indexer's Redis messages and polled every ``TRAINER_POLL_S``, read again
   after each job; first the jobs this trainer holds Running (left by a crash, a SIGKILL,
   or a transaction that did not go through): they are resumed. The database or the node
   out of reach is waited out.
2. **claim**: ``start_training``. The chain arbitrates: of two trainers, one lands it, the
   other is told no and moves on.
3. **fetch, open, validate** the dataset: from the content store (verified against its
   CID), decrypted with this trainer's X25519 key, checked (size, UTF-8, not empty).
4. **train** in a worker thread, from the mirror's latest model when it has one (its
   sha256 checked) unless the job's params ask to ``start_fresh`` (then no base model is
   fetched at all; the lineage records either choice), with periodic checkpoints (a
   restart resumes from the last one) and a watcher that stops within seconds once the
   job is no longer ours on chain, or its mirror is frozen.
5. **publish**: the artifact (safetensors with config, metrics, lineage), sealed to the
   owner, the inference service and this trainer when the mirror is private, stored, then
   ``complete_training`` with its CID, sha256 and metrics; if the mirror published a newer
   version meanwhile, the job is trained again from it (the lineage must name the latest).

Any failure ends the job on chain with ``fail_training`` and a code (``failures.py``); the
daemon goes on with the next job. Nothing is left Running: a transaction that does not go
through (the node out of reach, unconfirmed, expired), or the content store out of reach,
leaves the job ours, and it is resumed after a delay that grows with each try; a
transaction the program refuses, or one that reached the node ``TRANSACTION_TRIES`` times
without landing, fails the job. No outage and no job stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions
import redis.asyncio as aioredis
import structlog
import torch
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from solders.keypair import Keypair

import trainer.artifact as artifacts
import trainer.train as training
from mirror_common.config import Settings
from mirror_common.ipfs import ContentError, ContentStore, TooLarge, Unavailable
from mirror_common.pg import Pool
from mirror_common.pg_errors import is_connection_error
from mirror_common.retry import REDIS, Backoff
from mirror_common.wallet import WalletError
from trainer.chain import ChainJob, ChainMirror, TrainerChain
from trainer.dataset import DatasetError, validate_dataset
from trainer.envelope import EnvelopeError, is_envelope, open_sealed, seal, x25519_keypair_from_solana, x25519_public_from_solana
from trainer.failures import FailCode, JobAbandoned, JobDeferred, JobFailed
from trainer.metrics import TrainerMetrics
from trainer.model import ModelConfig
from trainer.progress import ProgressReporter

log = structlog.get_logger("trainer")

CHANNEL = "mirror:events"
WAKE_EVENTS = {"TrainRequested", "TrainingCancelled", "TrainerRegistered"}
ENVELOPE_OVERHEAD = 64 * 1024  # bytes an envelope may add to its plaintext (header, recipients, MAC)
WATCH_S = 1.0  # seconds between looks at a running job's account (cancellation)
RETRY_FIRST_S = 1.0  # a job whose transaction or read did not go through waits this long, then twice that, ...
RETRY_MAX_S = 60.0  # ... up to this
CANDIDATES = 50  # open jobs read from the job table at a time
TRANSACTION_TRIES = 5  # transactions of a job that reached the node but did not land, before it is failed
BASE_TRIES = 3  # trainings of a job whose mirror got a newer model version meanwhile, before it is failed


class BaseMoved(Exception):
    """The mirror published a newer version than the one the model continued from."""

    def __init__(self, latest: int) -> None:
        super().__init__(f"the mirror's latest version is now {latest}")
        self.latest = latest


@dataclass
class Keys:
    authority: Keypair
    x25519_public: bytes
    x25519_private: bytes
    inference_public: bytes


class Daemon:
    def __init__(self, settings: Settings, pool: Pool, store: ContentStore, chain: TrainerChain, keys: Keys, device: torch.device) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store
        self.chain = chain
        self.keys = keys
        self.metrics = TrainerMetrics()
        self.me = str(keys.authority.pubkey())
        self.checkpoints = Path(settings.mirror_data_dir) / "trainer" / self.me / "checkpoints"
        self.device = device  # where jobs train (TRAINER_DEVICE, checked by train.training_device)
        self._wake = asyncio.Event()
        self._tries: dict[str, int] = {}  # jobs whose last read or transaction did not go through: how many times
        self._retry_at: dict[str, float] = {}  # ... and when to look at them again (time.monotonic)
        self._unlanded: dict[str, int] = {}  # transactions of a job that reached the node and did not land
        self.jobs_done = 0

    # 1. find ------------------------------------------------------------------------
    async def run(self, *, max_jobs: int | None = None) -> None:
        listener = asyncio.create_task(self._listen(), name="trainer-redis")
        try:
            while max_jobs is None or self.jobs_done < max_jobs:
                worked = False
                for address in await self._candidates():
                    try:
                        worked = await self.handle(address)
                    except Exception:  # a bug about one job must not stop the daemon for all
                        log.exception("job_handling_crashed", job=address, retry_in_s=self._later(address))
                    if worked:  # the queue changed while the job ran (and whose turn it is): look again, now
                        break
                if worked:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.trainer_poll_s)
                self._wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _candidates(self) -> list[str]:
        """Jobs this trainer holds Running first (left by a crash, a SIGKILL, or a transaction that did not
        go through: resumed), then Requested ones of active mirrors, requesters in turn: everyone's oldest
        open job, the requester served least recently first, then everyone's second, ..., so that one
        requester's many jobs do not make everyone else wait for all of them. A requester's own jobs go
        oldest first (a mirror's jobs of the same second in job_id order: the order its owner asked for
        them, which its model versions follow).
        Jobs no trainer may start (their mirror frozen) and jobs waiting out a retry delay are left out in
        the query itself: anyone can leave any number of those, and they must not fill the page and keep
        everyone else's jobs from being seen. With the database out of reach, none this time. Checkpoints
        of jobs that ended meanwhile are dropped here too."""
        now = time.monotonic()
        waiting = [address for address, at in self._retry_at.items() if at > now]
        try:
            async with self.pool.acquire() as conn:
                rows = await conn.fetch(
                    """SELECT address FROM (
                         SELECT j.address, j.status, j.requested_at_unix, j.mirror, j.job_id,
                                row_number() OVER (PARTITION BY j.requester ORDER BY j.requested_at_unix, j.mirror, j.job_id) AS turn,
                                (SELECT max(s.started_at_unix) FROM training_jobs s WHERE s.requester = j.requester) AS served
                         FROM training_jobs j JOIN mirrors m ON m.address = j.mirror
                         WHERE ((j.status = 'Requested' AND m.status = 'Active') OR (j.status = 'Running' AND j.trainer = $1))
                           AND j.address <> ALL($3::text[])) open
                       ORDER BY status = 'Requested', turn, served NULLS FIRST, requested_at_unix, mirror, job_id LIMIT $2""",
                    self.me,
                    CANDIDATES,
                    waiting,
                )
                await self._sweep_checkpoints(conn)
                await self._count_open_jobs(conn)
        except Exception as e:
            if not is_connection_error(e):
                raise
            log.warning("trainer_database_lost", error=str(e) or type(e).__name__, hint="trying again at the next poll")
            return []
        found = [r["address"] for r in rows]
        if len(found) < CANDIDATES:  # every open job not waiting is here: forget the delays of jobs that ended meanwhile
            for address in self._tries.keys() - set(found) - set(waiting):
                self._settled(address)
        return found

    async def _count_open_jobs(self, conn: Any) -> None:
        """The queue as the read models see it (``mirror_trainer_open_jobs``): every trainer's, not only ours."""
        counts = dict.fromkeys(("Requested", "Running"), 0)
        for row in await conn.fetch(
            "SELECT status, count(*) AS n FROM training_jobs WHERE status IN ('Requested', 'Running') GROUP BY status"
        ):
            counts[row["status"]] = row["n"]
        for status, n in counts.items():
            self.metrics.open_jobs.labels(status.lower()).set(n)

    async def _sweep_checkpoints(self, conn: Any) -> None:
        """Checkpoints of jobs that ended while not ours to finish (cancelled while put aside, or while the
        daemon was down) go: no job trains now (jobs run one at a time, between these looks), and a job
        the read models say ended is not resumed."""
        left = await asyncio.to_thread(lambda: [d.name for d in self.checkpoints.iterdir()] if self.checkpoints.is_dir() else [])
        if not left:
            return
        ended = await conn.fetch(
            "SELECT address FROM training_jobs WHERE address = ANY($1::text[]) AND status IN ('Completed', 'Failed', 'Cancelled')", left
        )
        for row in ended:
            log.info("checkpoints_dropped", job=row["address"], why="the job ended")
            self._drop_checkpoints(row["address"])

    def _later(self, address: str, *, counted: bool = True) -> float:
        """Puts a job whose chain transaction or read did not go through aside for a while, longer each
        time (capped), so that an outage is waited out without a tight loop; the delay in seconds.
        ``counted``: as ``deferred`` in the metrics (a lost claim is counted as ``lost``)."""
        if counted:
            self.metrics.jobs.labels("deferred").inc()
        tries = self._tries.get(address, 0) + 1
        self._tries[address] = tries
        delay = min(RETRY_FIRST_S * (1 << min(tries - 1, 16)), RETRY_MAX_S)
        self._retry_at[address] = time.monotonic() + delay
        return delay

    def _settled(self, address: str) -> None:
        self._tries.pop(address, None)
        self._retry_at.pop(address, None)
        self._unlanded.pop(address, None)

    async def _listen(self) -> None:
        """Redis messages only wake the loop; the job table and the chain say what to do."""
        backoff = Backoff(REDIS)
        while True:
            client = aioredis.from_url(self.settings.redis_url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(CHANNEL)
                backoff.reset()
                self._wake.set()
                async for msg in pubsub.listen():
                    if msg.get("type") == "message" and _event_name(msg.get("data")) in WAKE_EVENTS:
                        self._wake.set()
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as e:
                log.warning("trainer_redis_lost", error=str(e) or type(e).__name__, hint="polling the job table")
                await backoff.wait()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis 8.1's PubSub.aclose has no annotations
                with contextlib.suppress(Exception):
                    await client.aclose()

    # 2. claim -----------------------------------------------------------------------
    async def handle(self, address: str) -> bool:
        """Claims or resumes one job and runs it; whether it ran (claimed and worked on, finished or not)."""
        try:
            job = await self.chain.job(address)
        except WalletError as e:  # the node out of reach: not an answer about the job
            log.warning("job_read_failed", job=address, error=str(e), retry_in_s=self._later(address))
            return False
        if job is None:
            return False
        bound = log.bind(job=address, mirror=job.mirror)
        if job.status == "Requested":
            try:
                signature = await self.chain.claim(job)
            except WalletError as e:
                # Unreachable or unconfirmed: it may still land. The job table says which at the next look
                # (Running for us: resumed; still Requested: claimed again).
                bound.warning("job_claim_unsure", error=str(e), signature=e.signature, retry_in_s=self._later(address))
                return False
            if signature is None:  # taken by another trainer, or refused (its mirror frozen, the program paused)
                self.metrics.jobs.labels("lost").inc()
                bound.info("job_claim_lost", retry_in_s=self._later(address, counted=False))
                return False
            self.metrics.jobs.labels("claimed").inc()
            bound.info("job_claimed", signature=signature)
        elif job.status == "Running" and job.trainer == self.me:
            bound.info("job_resumed")
        else:
            self._settled(address)
            return False
        if await self._run_claimed(job, bound):
            self._settled(address)
            self.jobs_done += 1
        return True

    async def _run_claimed(self, job: ChainJob, bound: Any) -> bool:
        """Runs a job that is ours on chain to its end; False when it stays Running for a later try
        (a transaction of ours that did not go through, the node out of reach)."""
        self.metrics.running.inc()
        try:
            signature = await self.process(job, bound)
            self.metrics.jobs.labels("completed").inc()
            bound.info("job_completed", signature=signature)
        except JobAbandoned as e:
            self.metrics.jobs.labels("abandoned").inc()
            bound.info("job_abandoned", why=str(e))
        except JobFailed as e:
            return await self._fail(job, e, bound)
        except JobDeferred as e:
            bound.warning("job_deferred", why=str(e), retry_in_s=self._later(job.address))
            return False
        except WalletError as e:
            if e.program_error is not None:  # the program refused what we sent: it would refuse it again
                return await self._fail(job, JobFailed(FailCode.OTHER, "transaction_refused", str(e)), bound)
            if not e.unreachable:  # it reached the node: unconfirmed or expired
                self._unlanded[job.address] = self._unlanded.get(job.address, 0) + 1
                if self._unlanded[job.address] >= TRANSACTION_TRIES:
                    return await self._fail(job, JobFailed(FailCode.OTHER, "transaction_failed", str(e)), bound)
            # Unconfirmed, expired, or the node out of reach: the job stays ours and Running, and is
            # resumed (from its last checkpoint) once its retry delay is over.
            bound.warning("job_transaction_failed", error=str(e), signature=e.signature, retry_in_s=self._later(job.address))
            return False
        except Exception as e:  # noqa: BLE001 - any other bug fails the job rather than leaving it Running
            bound.exception("job_crashed")
            return await self._fail(job, JobFailed(FailCode.OTHER, "crash", f"{type(e).__name__}: {e}"), bound)
        finally:
            self.metrics.running.dec()
            self.metrics.tokens_per_second.set(0)
        self._drop_checkpoints(job.address)
        return True

    async def _fail(self, job: ChainJob, failure: JobFailed, bound: Any) -> bool:
        """Sends fail_training; False when it did not go through and the job is still ours (tried again later)."""
        try:
            signature = await self.chain.fail(job, failure.code)
        except WalletError as e:
            with contextlib.suppress(WalletError):
                current = await self.chain.job(job.address)
                if current is not None and current.status != "Running":
                    bound.info("job_abandoned", why=f"ended on chain as {current.status}")
                    self.metrics.jobs.labels("abandoned").inc()
                    self._drop_checkpoints(job.address)
                    return True
            bound.error(
                "job_fail_not_sent", code=failure.code.name, reason=failure.reason, error=str(e), retry_in_s=self._later(job.address)
            )
            return False
        self.metrics.jobs.labels("failed").inc()
        self.metrics.failures.labels(failure.code.name, failure.reason).inc()  # once, however many tries it took
        bound.warning("job_failed", code=failure.code.name, reason=failure.reason, detail=failure.detail[:500], signature=signature)
        self._drop_checkpoints(job.address)
        return True

    # 3..5. the job ------------------------------------------------------------------
    async def process(self, job: ChainJob, bound: Any) -> str:
        text = await self.dataset(job)
        for _ in range(BASE_TRIES):
            mirror = await self.chain.mirror(job.mirror)
            if mirror.status != "Active":  # complete_training would refuse it: do not train for nothing
                raise JobFailed(FailCode.MIRROR_FROZEN, "mirror_frozen", f"mirror is {mirror.status}")
            # The requester asked for a model from scratch: the latest version is not even fetched.
            base = None if job.params.start_fresh else await self.base_model(mirror)
            result, config, lineage = await self.train(job, text, base, bound)
            blob, sha256 = artifacts.build_artifact(result, config, job=job.address, lineage=lineage)
            if mirror.visibility != "Public":
                blob = seal(blob, self._recipients(mirror))
            try:
                cid = await self.store.put(blob)
            except Unavailable as e:
                raise JobDeferred(f"storing the model: {e}") from e
            except (ContentError, OSError) as e:
                raise JobFailed(FailCode.ARTIFACT_UPLOAD, "store_put", str(e)) from e
            bound.info("artifact_stored", cid=cid, bytes=len(blob), sha256=sha256)
            try:
                return await self.publish(job, cid, sha256, result, base_version=None if job.params.start_fresh else mirror.model_version)
            except BaseMoved as e:
                # Another job of the mirror published a version while this one trained: this model does not
                # continue from the latest one, as the lineage (and analytics.model_lineage) would say. Again,
                # from the new latest version (its checkpoints do not match that base, so training starts over).
                bound.info("base_model_moved", trained_from=mirror.model_version, latest=e.latest)
                self._drop_checkpoints(job.address)
        raise JobFailed(FailCode.OTHER, "version_race", f"the mirror's latest version changed {BASE_TRIES} times while training")

    async def dataset(self, job: ChainJob) -> str:
        try:
            envelope = await self.store.get(job.dataset_cid, max_size=self.settings.trainer_max_dataset + ENVELOPE_OVERHEAD)
        except TooLarge as e:
            raise JobFailed(FailCode.DATASET_INVALID, "too_large", str(e)) from e
        except Unavailable as e:
            raise JobDeferred(f"fetching the dataset: {e}") from e
        except ContentError as e:
            raise JobFailed(FailCode.DATASET_UNAVAILABLE, type(e).__name__, str(e)) from e
        try:
            plaintext = open_sealed(envelope, self.keys.x25519_private)
        except EnvelopeError as e:
            raise JobFailed(FailCode.DATASET_DECRYPT, e.reason, str(e)) from e
        try:
            return validate_dataset(plaintext, self.settings.trainer_max_dataset)
        except DatasetError as e:
            raise JobFailed(FailCode.DATASET_INVALID, e.reason, str(e)) from e

    async def base_model(self, mirror: ChainMirror) -> artifacts.Artifact | None:
        """The mirror's latest model, checked against the sha256 the chain records, or None for a first model."""
        if mirror.model_version == 0:
            return None
        found = await self.chain.model_cid(mirror.address, mirror.model_version)
        if found is None:
            raise JobFailed(FailCode.TRAINING_ERROR, "base_model_missing", f"no ModelVersion {mirror.model_version}")
        cid, sha256 = found
        try:
            blob = await self.store.get(cid, max_size=artifacts.MAX_ARTIFACT_BYTES + ENVELOPE_OVERHEAD)
            if is_envelope(blob):  # a private mirror's model
                blob = open_sealed(blob, self.keys.x25519_private, max_plaintext=artifacts.MAX_ARTIFACT_BYTES)
            return artifacts.load_artifact(blob, sha256)
        except Unavailable as e:
            raise JobDeferred(f"fetching the base model: {e}") from e
        except (ContentError, EnvelopeError, artifacts.ArtifactError) as e:
            raise JobFailed(FailCode.TRAINING_ERROR, "base_model_invalid", f"{type(e).__name__}: {e}") from e

    async def train(
        self, job: ChainJob, text: str, base: artifacts.Artifact | None, bound: Any
    ) -> tuple[training.TrainResult, ModelConfig, dict[str, Any]]:
        config = base.config if base is not None else ModelConfig.named(self.settings.trainer_model_size)
        lineage: dict[str, Any] = {
            "parent_sha256": base.sha256 if base is not None else None,
            "start_fresh": job.params.start_fresh,
            "job": job.address,
        }
        stop = threading.Event()
        ended: list[str] = []
        frozen: list[str] = []
        reporter = ProgressReporter(self.settings.redis_url, job.address, job.mirror)  # to Redis, for the owner's display
        watcher = asyncio.create_task(self._watch(job, stop, ended, frozen))
        started = time.monotonic()
        last_log = [0.0]
        first_step: list[int] = []  # of this run: a resumed run's tokens count the steps before its checkpoint too

        def progress(step: int, total: int, loss: float, tokens: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-9)
            first_step[:] = first_step or [step]
            self.metrics.loss.set(loss)
            self.metrics.tokens_per_second.set(tokens * (step - first_step[0] + 1) / step / elapsed)
            if time.monotonic() - last_log[0] >= 5 or step == total:
                last_log[0] = time.monotonic()
                bound.info("training_progress", step=step, steps=total, loss=round(loss, 4), tokens=tokens)
            reporter.report(step, total, loss, tokens)

        params = training.TrainingParams(job.params.epochs, job.params.seq_len, job.params.batch_size, job.params.learning_rate_micros)
        try:
            result = await asyncio.to_thread(
                training.train,
                text.encode(),
                params,
                config,
                seed=_seed(job),
                checkpoint_dir=self.checkpoints / job.address,
                checkpoint_every_s=self.settings.trainer_checkpoint_s,
                device=self.device,
                limits=training.limits_for(self.device),
                init_weights=base.weights if base is not None else None,
                progress=progress,
                should_stop=stop.is_set,
            )
        except training.Stopped as e:
            if frozen:
                raise JobFailed(FailCode.MIRROR_FROZEN, "mirror_frozen", f"mirror is {frozen[0]}") from e
            raise JobAbandoned(ended[0] if ended else "stopped") from e
        except Exception as e:
            raise JobFailed(FailCode.TRAINING_ERROR, "train", f"{type(e).__name__}: {e}") from e
        finally:
            stop.set()
            watcher.cancel()
            (watched,) = await asyncio.gather(watcher, return_exceptions=True)
            if isinstance(watched, Exception):  # a bug in the watcher: logged, and the reporter still closed
                bound.error("job_watch_crashed", error=f"{type(watched).__name__}: {watched}")
            await reporter.close()
        if ended:
            raise JobAbandoned(ended[0])
        self.metrics.tokens.inc(result.tokens_trained)
        bound.info(
            "training_finished",
            steps=result.steps,
            resumed_from_step=result.resumed_from_step,
            final_loss=round(result.final_loss_micros / 1e6, 4),
            seconds=round(time.monotonic() - started, 1),
        )
        return result, config, lineage

    async def _watch(self, job: ChainJob, stop: threading.Event, ended: list[str], frozen: list[str]) -> None:
        """Stops training once the job is no longer Running for us on chain (cancelled, or ended elsewhere),
        or its mirror is frozen (complete_training would refuse the model)."""
        while not stop.is_set():
            await asyncio.sleep(WATCH_S)
            with contextlib.suppress(WalletError):
                current = await self.chain.job(job.address)
                if current is None or current.status != "Running" or current.trainer != self.me:
                    ended.append(f"ended on chain as {current.status if current else 'closed'}")
                    stop.set()
                    return
                mirror = await self.chain.mirror(job.mirror)
                if mirror.status != "Active":
                    frozen.append(mirror.status)
                    stop.set()

    async def publish(self, job: ChainJob, cid: str, sha256: str, result: training.TrainResult, *, base_version: int | None) -> str:
        """``complete_training`` as the mirror's next version. ``base_version``: the version the model continued
        from (None: trained from scratch, any next version will do); ``BaseMoved`` once the mirror has a newer one."""
        for _ in range(3):  # a fresh model: another job of the same mirror may publish between our read and our send
            mirror = await self.chain.mirror(job.mirror)
            if mirror.status != "Active":
                raise JobFailed(FailCode.MIRROR_FROZEN, "mirror_frozen", f"mirror is {mirror.status}")
            if base_version is not None and mirror.model_version != base_version:
                raise BaseMoved(mirror.model_version)
            try:
                return await self.chain.complete(
                    job, mirror.model_version + 1, cid, sha256, result.final_loss_micros, result.tokens_trained
                )
            except WalletError as e:
                current = await self.chain.job(job.address)
                if current is not None and current.status == "Completed" and current.trainer == self.me and current.model_cid == cid:
                    # Ours landed, and its confirmation did not reach us (unconfirmed, the node gone a moment).
                    return e.signature or ""
                if current is None or current.status != "Running":
                    raise JobAbandoned(f"ended on chain as {current.status if current else 'closed'}") from e
                if e.program_error != "ModelVersionMismatch":
                    raise
        raise JobFailed(FailCode.OTHER, "version_race", "the mirror's model version kept changing")

    def _recipients(self, mirror: ChainMirror) -> list[bytes]:
        """Who may open a private mirror's artifact: its owner, the inference service, and this trainer (to continue from it)."""
        try:
            owner = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(_pubkey_bytes(mirror.owner)))
        except (nacl.exceptions.CryptoError, ValueError) as e:  # an owner key with no X25519 form (off the curve)
            raise JobFailed(FailCode.OTHER, "owner_key", str(e)) from e
        return [owner, self.keys.inference_public, self.keys.x25519_public]

    def _drop_checkpoints(self, address: str) -> None:
        shutil.rmtree(self.checkpoints / address, ignore_errors=True)


def _seed(job: ChainJob) -> int:
    """Deterministic per job: the same job trains the same weights on any trainer."""
    return int.from_bytes(_pubkey_bytes(job.address)[:8], "little") ^ job.job_id


def _pubkey_bytes(address: str) -> bytes:
    from solders.pubkey import Pubkey

    return bytes(Pubkey.from_string(address))


def _event_name(data: Any) -> str | None:
    try:
        value = json.loads(data)
    except (ValueError, TypeError):
        return None
    name = value.get("name") if isinstance(value, dict) else None
    return name if isinstance(name, str) else None


def load_keys(settings: Settings) -> Keys:
    authority = _read_keypair(settings.mirror_trainer_keypair)
    public, private = x25519_keypair_from_solana(authority)
    return Keys(authority, public, private, inference_public_key(settings))


def inference_public_key(settings: Settings) -> bytes:
    """The X25519 key private artifacts are sealed to: MIRROR_INFERENCE_PUBKEY, or (dev) the public half of
    MIRROR_INFERENCE_KEYPAIR. ``ValueError`` naming the setting when it is not a usable key."""
    if not settings.mirror_inference_pubkey:
        public, _ = x25519_keypair_from_solana(_read_keypair(settings.mirror_inference_keypair))
        return public
    from solders.pubkey import Pubkey

    try:
        return x25519_public_from_solana(bytes(Pubkey.from_string(settings.mirror_inference_pubkey.strip())))
    except ValueError as e:
        raise ValueError(f"MIRROR_INFERENCE_PUBKEY {settings.mirror_inference_pubkey!r}: {e}") from e


def _read_keypair(path: Path) -> Keypair:
    return Keypair.from_bytes(bytes(json.loads(Path(path).read_text())))


def lock(settings: Settings, authority: str) -> Any:
    """One daemon per trainer key and data directory: a second one would resume the same
    Running jobs. Returns the open lock file (keep it open); raises ``RuntimeError`` if held."""
    import fcntl

    path = Path(settings.mirror_data_dir) / "trainer" / authority / "daemon.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        handle.close()
        raise RuntimeError(f"another trainer daemon with key {authority} runs on {path.parent}") from e
    return handle
