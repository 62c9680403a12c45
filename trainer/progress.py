"""Training progress, as the daemon reports it to Redis for the owner's display (DESIGN.md §5):
key ``mirror:training-progress:<job address>``, value one JSON object
``{"job", "mirror", "step", "steps", "tokens", "loss", "tokens_per_second", "updated_at"}``
(``updated_at`` Unix seconds), with a TTL of an hour refreshed at each write. The API's
``trainingProgress`` reads it (graphql_api/progress.py); nothing on chain depends on it.

What ``ProgressReporter`` guarantees, and how:

- **Training never waits on Redis.** ``report`` runs in the training thread: it keeps nothing but
  the newest value and hands it to the event loop (``loop.call_soon_threadsafe``), where one writer
  task writes the newest value it finds. A write still under way when newer values come means the
  older ones are skipped, not queued: memory stays one value, whatever Redis does.
- **At most one write a second**, plus the last step's: ``report`` drops the steps between, and
  ``close`` writes what is left, waiting at most ``CLOSE_S``.
- **Best effort.** Redis down or slow: each write gives up after ``WRITE_TIMEOUT_S`` (no retries
  inside redis-py), the job's progress is not written, one warning per job
  (``training_progress_unreported``), and training goes on.
- **tokens/s from consecutive reports** (tokens added ÷ time between the two), so a job resumed from
  a checkpoint, whose token count includes the steps before it, is not shown as faster than it is.
  The first report of a run has none (null).

``ProgressRecord.decode`` is the one reader of the value: it is another process's data, so every
field is checked (types, ranges, finite numbers, valid addresses, size) and anything else is a
``ValueError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mirror_common.address import parse_address

log = structlog.get_logger("trainer")

KEY_PREFIX = "mirror:training-progress:"
TTL_S = 3600  # refreshed at each write: a job that stops reporting is forgotten an hour later
INTERVAL_S = 1.0  # at most one write a second (and the last step's)
WRITE_TIMEOUT_S = 1.0  # connect and reply, per write
CLOSE_S = 1.0  # how long close waits for the last value to be written
MAX_RECORD_BYTES = 4096  # a value larger than this is not ours
I64_MAX = 2**63 - 1


def progress_key(job: str) -> str:
    return KEY_PREFIX + job


@dataclass(frozen=True, slots=True)
class ProgressRecord:
    """One report: ``step`` of ``steps`` done, ``tokens`` trained so far, the loss of that step."""

    job: str
    mirror: str
    step: int
    steps: int
    tokens: int
    loss: float | None
    tokens_per_second: float | None
    updated_at: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self), allow_nan=False, separators=(",", ":")).encode()

    @staticmethod
    def decode(raw: bytes | str) -> ProgressRecord:
        """The record in ``raw``; ``ValueError`` saying what is wrong with it otherwise."""
        if len(raw) > MAX_RECORD_BYTES:
            raise ValueError(f"{len(raw)} bytes, more than {MAX_RECORD_BYTES}")
        try:
            value = json.loads(raw)
        except RecursionError:  # nested deeper than the parser goes: not a record either
            raise ValueError("nested too deeply") from None
        if not isinstance(value, dict):
            raise ValueError(f"not a JSON object but {type(value).__name__}")
        step, steps = _count(value, "step"), _count(value, "steps")
        if steps < 1 or step > steps:
            raise ValueError(f"step {step} of {steps}")
        return ProgressRecord(
            job=_address(value, "job"),
            mirror=_address(value, "mirror"),
            step=step,
            steps=steps,
            tokens=_count(value, "tokens"),
            loss=_finite(value, "loss"),
            tokens_per_second=_finite(value, "tokens_per_second", low=0.0),
            updated_at=_count(value, "updated_at"),
        )


def _count(value: dict[str, Any], name: str) -> int:
    found = value.get(name)
    if type(found) is not int or not 0 <= found <= I64_MAX:
        raise ValueError(f"{name} must be an integer in [0, 2^63), not {_shown(found)}")
    return found


def _finite(value: dict[str, Any], name: str, *, low: float = -math.inf) -> float | None:
    found = value.get(name)
    if found is None:
        return None
    try:
        number = float(found) if type(found) in (int, float) else math.nan  # an int past 1e308: OverflowError
    except OverflowError:
        number = math.nan
    if not math.isfinite(number) or number < low:
        raise ValueError(f"{name} must be a finite number{' >= 0' if low == 0 else ''} or null, not {_shown(found)}")
    return number


def _address(value: dict[str, Any], name: str) -> str:
    found = value.get(name)
    try:
        return parse_address(found)
    except ValueError:
        raise ValueError(f"{name} must be a base58 address, not {_shown(found)}") from None


def _shown(found: object) -> str:
    return repr(found)[:40]


class ProgressReporter:
    """Reports one job's progress (module docstring). Built on the event loop; ``report`` from the
    training thread; ``close`` on the loop once training is over (or the daemon stops)."""

    def __init__(self, redis_url: str, job: str, mirror: str, *, interval_s: float = INTERVAL_S) -> None:
        self.job = job
        self.mirror = mirror
        self.interval_s = interval_s
        self._loop = asyncio.get_running_loop()
        self._client = aioredis.from_url(
            redis_url, socket_connect_timeout=WRITE_TIMEOUT_S, socket_timeout=WRITE_TIMEOUT_S, retry=Retry(NoBackoff(), 0)
        )
        # The training thread's own: when it last reported, and the tokens then.
        self._reported_at = -math.inf
        self._reported_tokens = 0
        # The loop's own: the newest value not yet written, and the writer that writes it.
        self._newest: ProgressRecord | None = None
        self._wake = asyncio.Event()
        self._closing = False
        self._warned = False
        self._writer = self._loop.create_task(self._write_newest(), name=f"training-progress-{job}")

    def report(self, step: int, steps: int, loss: float, tokens: int) -> None:
        """From the training thread, after each step: returns at once, whatever Redis does."""
        now = time.monotonic()
        if step < steps and now - self._reported_at < self.interval_s:
            return
        elapsed = now - self._reported_at
        rate = (tokens - self._reported_tokens) / elapsed if math.isfinite(elapsed) and elapsed > 0 else None
        self._reported_at, self._reported_tokens = now, tokens
        record = ProgressRecord(
            job=self.job,
            mirror=self.mirror,
            step=step,
            steps=steps,
            tokens=tokens,
            loss=loss if math.isfinite(loss) else None,
            tokens_per_second=rate if rate is not None and rate >= 0 else None,
            updated_at=int(time.time()),
        )
        try:
            self._loop.call_soon_threadsafe(self._offer, record)
        except RuntimeError:  # the loop is closed: the daemon is going away, and so is this value
            pass

    def _offer(self, record: ProgressRecord) -> None:
        self._newest = record
        self._wake.set()

    async def _write_newest(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            record, self._newest = self._newest, None
            if record is not None:
                await self._write(record)
            if self._closing and self._newest is None:
                return

    async def _write(self, record: ProgressRecord) -> None:
        try:
            await self._client.set(progress_key(self.job), record.encode(), ex=TTL_S)
        except (aioredis.RedisError, OSError) as e:  # OSError: TimeoutError too
            if not self._warned:
                self._warned = True
                log.warning(
                    "training_progress_unreported",
                    job=self.job,
                    mirror=self.mirror,
                    error=str(e) or type(e).__name__,
                    hint="training goes on; its progress is not shown until Redis answers",
                )

    async def close(self) -> None:
        """Writes the newest value not yet written (the last step's), waiting at most ``CLOSE_S``, then stops."""
        self._closing = True
        self._wake.set()
        try:
            await asyncio.wait_for(self._writer, CLOSE_S)  # cancelled past it
        except TimeoutError:
            pass
        except Exception:  # a bug here must not fail a job that trained
            log.exception("training_progress_writer_crashed", job=self.job, mirror=self.mirror)
        finally:
            self._writer.cancel()
            with contextlib.suppress(Exception):
                await self._client.aclose()
