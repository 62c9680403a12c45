"""The indexer, top to bottom: source -> decode -> apply -> commit -> publish.

    connect live stream (logsSubscribe, confirmed)      source.LiveStream
    backfill from the cursor                              source.backfill
    for each batch of transactions:
        decode with the IDL codec                         decode.decode_tx
        store events + apply projections + cursor, 1 tx  commit.commit_batch (apply.apply_events)
        wake the publisher                                publish.Publisher
    on a dropped connection: back off, reconnect, backfill the gap, go on
    in the background: finality (confirmed -> finalized), publishing

Only one indexer runs against a database at a time (a session advisory lock), and
every commit takes a transaction advisory lock, so commits stay serialised even if
a database restart let a second one in.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from indexer import chain_identity
from indexer.chain_identity import ChainMismatch, log_mismatch, verify_chain
from indexer.commit import commit_batch, read_cursor, record_skip
from indexer.decode import DecodedTx, Event, RawTx, Skip, decode_tx, pg_safe
from indexer.metrics import Metrics
from indexer.publish import Publisher
from indexer.source import LiveStream, Rpc, backfill
from mirror_common.logs import is_truncated
from mirror_common.pg import Connection, Pool, create_pool
from mirror_common.pg_errors import is_connection_error
from mirror_common.retry import APPLY, DATABASE, RECONNECT, Backoff, retry

log = structlog.get_logger("indexer")
T = TypeVar("T")

_LEADER_LOCK = 0x4D495253
# What --retry-skipped takes up again: everything a fix of ours or the node's return can mend.
# (log_truncated is not: the node's own copy is cut; reconcile --repair mends the rows.)
RETRYABLE_REASONS = ("apply_error", "rpc_unavailable", "decode_error", "unknown_discriminator", "bad_log_line")


@dataclass
class RetryReport:
    """What ``Indexer.retry_skipped`` did: items resolved, items still failing (with why)."""

    resolved: int = 0
    still_failing: list[dict[str, Any]] = field(default_factory=list)
    unavailable: int = 0  # transactions the node could not return this time

    def summary(self) -> dict[str, Any]:
        return {
            "resolved": self.resolved,
            "still_failing": len(self.still_failing),
            "unavailable": self.unavailable,
            "items": self.still_failing,
        }


@dataclass
class IndexerConfig:
    rpc_url: str
    ws_url: str
    program_id: str
    database_url: str
    redis_url: str
    backfill_batch: int = 100
    live_batch: int = 500
    finality_interval: float = 0.5
    progress: bool = False


class Indexer:
    def __init__(self, cfg: IndexerConfig, metrics: Metrics | None = None) -> None:
        self.cfg = cfg
        self.metrics = metrics or Metrics()
        self.rpc = Rpc(cfg.rpc_url)
        self.pool: Pool | None = None
        self.publisher: Publisher | None = None
        self.live_ready = asyncio.Event()  # set once live and caught up (tests, health)
        self.live: LiveStream | None = None
        self.applied = 0

    # -- the pipeline --------------------------------------------------------------

    async def process(self, txs: list[RawTx], *, advance_cursor: bool = True) -> int:
        """Decode, then commit in one transaction, then wake the publisher. Returns events stored."""
        decoded: list[DecodedTx] = []
        for tx in txs:
            if tx.err is None and is_truncated(tx.logs) and tx.source == "live":
                full = (await self.rpc.transactions([tx.signature])).get(tx.signature)
                if full is not None:
                    tx = full
            d = self._decode(tx)
            self.metrics.transactions.labels(tx.source, "failed" if d.failed else "ok").inc()
            for s in d.skips:
                self.metrics.skipped.labels(s.reason).inc()
            decoded.append(d)
        stored = await self._commit(decoded, advance_cursor)
        for ev in stored:
            self.metrics.events.labels(ev.name).inc()
        self.applied += len(stored)
        if decoded:
            self.metrics.cursor_slot.set(max(d.slot for d in decoded))
        if self.publisher:
            self.publisher.wake.set()
        return len(stored)

    def _decode(self, tx: RawTx) -> DecodedTx:
        """decode_tx, which records what it cannot decode; should it ever raise (a codec bug
        on hostile bytes), the transaction is recorded as decode_error rather than retried."""
        try:
            return decode_tx(tx, self.cfg.program_id)
        except Exception as e:  # noqa: BLE001 - one transaction must not stop the stream
            detail = pg_safe(f"{type(e).__name__}: {e}")[:1000]
            log.error("decode_crash", alert=True, signature=tx.signature, slot=tx.slot, error=detail)
            self.metrics.errors.labels("decode").inc()
            return DecodedTx(
                tx.signature, tx.slot, tx.block_time, tx.err is not None, [], [Skip(tx.signature, -1, tx.slot, "decode_error", detail)]
            )

    async def _commit(self, decoded: list[DecodedTx], advance_cursor: bool = True) -> list[Event]:
        """commit_batch. A batch that a handler or the database refuses (anything but an
        outage: mirror_common.pg_errors) is committed again one transaction at a time, so
        one hostile transaction can neither stop the indexer nor hide the others."""
        if len(decoded) == 1:
            return await self._commit_one(decoded[0], advance_cursor)
        try:
            return await self._with_db(lambda conn: commit_batch(conn, self.cfg.program_id, decoded, advance_cursor=advance_cursor))
        except Exception as e:
            if is_connection_error(e) or self._shutting_down():
                raise
            log.warning("batch_refused", transactions=len(decoded), error=f"{type(e).__name__}: {e}"[:500])
            stored: list[Event] = []
            for d in decoded:
                stored += await self._commit_one(d, advance_cursor)
            return stored

    async def _commit_one(self, d: DecodedTx, advance_cursor: bool) -> list[Event]:
        """The poison-pill breaker: a transaction refused ``APPLY.attempts`` times is recorded
        in skipped_items (apply_error, with the error), counted, logged as an alert, and
        passed; ``python -m indexer --retry-skipped`` applies it once the cause is fixed."""
        backoff = Backoff(APPLY)
        while True:
            try:
                return await self._with_db(lambda conn: commit_batch(conn, self.cfg.program_id, [d], advance_cursor=advance_cursor))
            except Exception as e:
                if is_connection_error(e) or self._shutting_down():
                    raise
                error = pg_safe(f"{type(e).__name__}: {e}")[:1000]
                if backoff.exhausted or await self._already_skipped(d.signature):
                    break
                log.warning("apply_retry", signature=d.signature, attempt=backoff.tries + 1, error=error)
                await backoff.wait()
        if await self._already_skipped(d.signature):
            # The same transaction again (live and backfill both delivered it): recorded and alerted once.
            log.info("transaction_already_skipped", signature=d.signature, error=error)
        else:
            self._alert_skipped(d, backoff.tries + 1, error)
        poisoned = DecodedTx(d.signature, d.slot, d.block_time, d.failed, [], [Skip(d.signature, -1, d.slot, "apply_error", error)])
        return await self._with_db(lambda conn: commit_batch(conn, self.cfg.program_id, [poisoned], advance_cursor=advance_cursor))

    def _shutting_down(self) -> bool:
        return self.pool is None or self.pool.is_closing()

    async def _already_skipped(self, signature: str) -> bool:
        return bool(
            await self._with_db(
                lambda c: c.fetchval(
                    "SELECT 1 FROM skipped_items WHERE signature = $1 AND reason = 'apply_error' AND resolved_at IS NULL", signature
                )
            )
        )

    def _alert_skipped(self, d: DecodedTx, attempts: int, error: str) -> None:
        log.error(
            "transaction_skipped",
            alert=True,
            signature=d.signature,
            slot=d.slot,
            attempts=attempts,
            events=[ev.name for ev in d.events],
            error=error,
            action="fix the cause, then run: python -m indexer --retry-skipped",
        )
        self.metrics.errors.labels("apply").inc()
        self.metrics.skipped.labels("apply_error").inc()
        self.metrics.poisoned.inc()

    async def _with_db(self, fn: Callable[[Connection], Awaitable[T]]) -> T:
        """Runs fn(conn) in a pooled connection, retrying while PostgreSQL is unreachable
        (and only then: a refusal is raised at once, for the caller to classify)."""
        pool = self.pool
        assert pool is not None

        async def attempt() -> T:
            async with pool.acquire() as conn:
                return await fn(conn)

        return await retry(
            attempt,
            transient=is_connection_error,
            policy=DATABASE,
            log=log,
            event="postgres_unavailable",
            on_retry=lambda _: self.metrics.errors.labels("postgres").inc(),
        )

    async def catch_up(self, *, from_slot: int | None = None) -> int:
        """Backfill from the cursor (or, with ``from_slot``, from that slot whatever the
        cursor says) to the node's tip. Returns the events stored (new ones only)."""
        if from_slot is None:
            cursor_sig, _ = await self._with_db(lambda c: read_cursor(c, self.cfg.program_id))
        else:
            cursor_sig = None
        await self.retry_unavailable()
        done = stored = 0
        started = shown = time.monotonic()
        async for txs, missing, total in backfill(
            self.rpc, self.cfg.program_id, cursor_sig, batch=self.cfg.backfill_batch, min_slot=from_slot or 0
        ):
            self.metrics.backfill_total.set(total)
            for sig in missing:
                log.error("transaction_unavailable", signature=sig)
                self.metrics.skipped.labels("rpc_unavailable").inc()
                await self._with_db(functools.partial(self._record_unavailable, signature=sig))
            stored += await self.process(txs)
            done += len(txs) + len(missing)
            self.metrics.backfill_done.set(done)
            now = time.monotonic()
            if self.cfg.progress and total and (now - shown >= 1.0 or done >= total):
                shown = now
                rate = done / max(now - started, 1e-6)
                log.info(
                    "backfill_progress",
                    done=done,
                    total=total,
                    pct=round(100 * done / total, 1),
                    tx_per_s=round(rate),
                    eta_s=round((total - done) / rate, 1) if rate else None,
                )
        if done:
            log.info("backfill_done", transactions=done, events=stored, seconds=round(time.monotonic() - started, 2))
        return stored

    async def _record_unavailable(self, conn: Connection, signature: str) -> None:
        await record_skip(conn, self.cfg.program_id, signature, None, "rpc_unavailable", "getTransaction returned nothing after retries")

    async def retry_unavailable(self) -> int:
        """Transactions the node could not return before (rpc_unavailable), asked for again at
        every backfill. Returns how many were recovered."""
        return (await self.retry_skipped(("rpc_unavailable",), attempts=2)).resolved

    async def retry_skipped(self, reasons: Sequence[str] = RETRYABLE_REASONS, *, attempts: int = 5) -> RetryReport:
        """Takes up the open skipped items of these reasons again (``--retry-skipped``): fetches
        each transaction from the node, decodes and commits it out of turn (the cursor stays;
        the exactly-once gate keeps what was stored before; rows that see an older event are
        rebuilt in chain order). An item is resolved when its transaction now commits and no
        longer yields that skip; one still refused stays open, its detail updated."""
        report = RetryReport()

        async def page(c: Connection, after: int) -> list[Any]:
            return await c.fetch(
                """SELECT id, signature, event_index, reason FROM skipped_items
                   WHERE resolved_at IS NULL AND program_id = $1 AND reason = ANY($2::text[]) AND id > $3
                   ORDER BY id LIMIT 200""",
                self.cfg.program_id,
                list(reasons),
                after,
            )

        last_id = 0
        while True:
            rows = await self._with_db(functools.partial(page, after=last_id))
            if not rows:
                return report
            last_id = rows[-1]["id"]
            by_sig: dict[str, list[Any]] = {}
            for r in rows:
                by_sig.setdefault(r["signature"], []).append(r)
            got = await self.rpc.transactions(list(by_sig), attempts=attempts)
            found = sorted((tx for tx in got.values() if tx is not None), key=lambda tx: tx.slot)
            report.unavailable += len(by_sig) - len(found)
            for tx in found:
                await self._retry_one(self._decode(tx), by_sig[tx.signature], report)

    async def _retry_one(self, d: DecodedTx, items: list[Any], report: RetryReport) -> None:
        try:
            stored = await self._with_db(lambda c: commit_batch(c, self.cfg.program_id, [d], advance_cursor=False))
        except Exception as e:
            if is_connection_error(e):
                raise
            error = pg_safe(f"{type(e).__name__}: {e}")[:1000]
            await self._with_db(
                lambda c: c.execute("UPDATE skipped_items SET detail = $2 WHERE id = ANY($1::bigint[])", [i["id"] for i in items], error)
            )
            report.still_failing += [{"signature": d.signature, "reason": i["reason"], "error": error} for i in items]
            log.warning("skipped_item_still_failing", signature=d.signature, error=error)
            return
        for ev in stored:
            self.metrics.events.labels(ev.name).inc()
        still = {(s.event_index, s.reason) for s in d.skips}
        done = [i["id"] for i in items if (i["event_index"], i["reason"]) not in still]
        report.still_failing += [
            {"signature": d.signature, "reason": i["reason"], "error": "still undecodable"} for i in items if i["id"] not in done
        ]
        if done:
            await self._with_db(lambda c: c.execute("UPDATE skipped_items SET resolved_at = now() WHERE id = ANY($1::bigint[])", done))
            report.resolved += len(done)
            log.info("skipped_item_resolved", signature=d.signature, items=len(done), events_stored=len(stored))
        if self.publisher:
            self.publisher.wake.set()

    async def follow(self) -> None:
        """Subscribe, check the node's chain, backfill the gap, then apply live notifications in
        batches; returns on a dropped stream, raises ChainMismatch on another chain."""
        async with LiveStream(self.cfg.ws_url, self.cfg.program_id) as live:
            self.live = live
            # On every connect, before the backfill writes: a node replaced on the same port
            # (a localnet reset) serves another chain, whose rows must not join the old one's.
            await self._with_db(lambda c: verify_chain(c, self.rpc, self.cfg.program_id))
            await self.catch_up()
            self.live_ready.set()
            log.info("live", ws=self.cfg.ws_url)
            while True:
                item = await live.queue.get()
                batch: list[RawTx] = []
                while True:
                    if isinstance(item, Exception):
                        if batch:
                            await self.process(batch)
                        raise ConnectionError(f"live stream lost: {item}")
                    batch.append(item)
                    if len(batch) >= self.cfg.live_batch or live.queue.empty():
                        break
                    item = live.queue.get_nowait()
                await self.process(batch)

    async def run_forever(self) -> None:
        """follow() until cancelled: any failure (stream dropped, RPC error storm, database
        gone longer than the retries) is logged and counted, then reconnect with backoff,
        which backfills the gap from the cursor. Except ChainMismatch: no retry can mend it."""
        backoff = Backoff(RECONNECT)
        while True:
            started = time.monotonic()
            try:
                await self.follow()
            except asyncio.CancelledError:
                raise
            except ChainMismatch as e:
                self.live_ready.clear()
                log_mismatch(e)
                raise
            except Exception as e:  # noqa: BLE001 - see the docstring
                self.live_ready.clear()
                self.metrics.reconnects.inc()
                self.metrics.errors.labels("source").inc()
                if time.monotonic() - started > 30:
                    backoff.reset()  # it ran fine for a while: start the backoff over
                delay = backoff.next_delay()
                log.warning("reconnecting", error=f"{type(e).__name__}: {e}", retry_in=round(delay, 2))
                await asyncio.sleep(delay)

    # -- finality ------------------------------------------------------------------

    async def finalize_once(self) -> int:
        """Marks events finalized once the node reports their transaction finalized."""
        fin_slot = await self.rpc.get_slot("finalized")
        rows = await self._with_db(
            lambda c: c.fetch(
                """SELECT signature, max(slot) AS slot FROM chain_events WHERE commitment = 'confirmed' AND slot <= $1
               GROUP BY signature ORDER BY 2 LIMIT 256""",
                fin_slot,
            )
        )
        if not rows:
            await self._with_db(lambda c: self._set_finalized_cursor(c, None, fin_slot))
            return 0
        sigs = [r["signature"] for r in rows]
        statuses = (await self.rpc.call("getSignatureStatuses", sigs, {"searchTransactionHistory": True}))["value"]
        final = [s for s, st in zip(sigs, statuses, strict=False) if st and st.get("confirmationStatus") == "finalized"]
        for s, st in zip(sigs, statuses, strict=False):
            if st is None:
                log.error("confirmed_transaction_vanished", signature=s)
        if final:

            async def mark(c: Connection) -> None:
                async with c.transaction():
                    await c.execute(
                        "UPDATE chain_events SET commitment = 'finalized' WHERE signature = ANY($1::text[]) AND commitment = 'confirmed'",
                        final,
                    )
                    await self._set_finalized_cursor(c, final[-1], fin_slot)

            await self._with_db(mark)
        return len(final)

    async def _set_finalized_cursor(self, c: Connection, signature: str | None, slot: int) -> None:
        # Finalized up to `slot` only when nothing confirmed remains at or below it.
        pending = await c.fetchval("SELECT min(slot) FROM chain_events WHERE commitment = 'confirmed'")
        upto = slot if pending is None else min(slot, pending - 1)
        await c.execute(
            """INSERT INTO indexer_cursor (program_id, commitment, signature, slot) VALUES ($1, 'finalized', $2, $3)
               ON CONFLICT (program_id, commitment) DO UPDATE SET signature = COALESCE(EXCLUDED.signature, indexer_cursor.signature),
                   slot = GREATEST(indexer_cursor.slot, EXCLUDED.slot), updated_at = now()""",
            self.cfg.program_id,
            signature,
            upto,
        )
        self.metrics.finalized_slot.set(upto)

    async def run_finality(self) -> None:
        while True:
            try:
                # Only once follow() has checked the node's chain: between a node swap and that
                # check, the node's finalized slot belongs to another chain.
                while self.live_ready.is_set() and await self.finalize_once() == 256:
                    pass
                tip = await self.rpc.get_slot("confirmed")
                cursor_slot = await self._with_db(
                    lambda c: c.fetchval(
                        "SELECT slot FROM indexer_cursor WHERE program_id = $1 AND commitment = 'confirmed'", self.cfg.program_id
                    )
                )
                # Live with nothing queued: every program transaction up to the tip is applied,
                # however old the cursor's slot (it moves only with the program's transactions).
                idle = self.live_ready.is_set() and self.live is not None and self.live.queue.empty()
                self.metrics.slot_lag.set(0 if idle else max(0, tip - (cursor_slot or 0)))
            except Exception as e:  # noqa: BLE001 - a background loop must not die
                self.metrics.errors.labels("finality").inc()
                log.warning("finality_error", error=str(e) or type(e).__name__)
            await asyncio.sleep(self.cfg.finality_interval)

    # -- lifecycle -----------------------------------------------------------------

    async def run(self, *, reset_chain: bool = False) -> None:
        """Leader lock, then (``reset_chain``) the read models emptied for the node's chain,
        then follow, publish and finalize until cancelled. Raises ChainMismatch when the
        node serves another chain than the recorded one (checked here first, waiting while
        the node is unreachable, so that no background loop touches the database before)."""
        self.pool = await _retry_connect(lambda: create_pool(self.cfg.database_url, max_size=4))
        leader = await self.pool.acquire()
        try:
            while not await leader.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                log.info("waiting_for_leader_lock")
                await asyncio.sleep(1)
            if reset_chain:
                await self._with_db(lambda c: chain_identity.reset_chain(c, self.rpc, self.cfg.program_id))
            try:
                await retry(
                    lambda: self._with_db(lambda c: chain_identity.verify_chain(c, self.rpc, self.cfg.program_id)),
                    transient=chain_identity.is_node_unreachable,
                    policy=RECONNECT,
                    log=log,
                    event="node_unavailable",
                )
            except chain_identity.ChainMismatch as e:
                chain_identity.log_mismatch(e)
                raise
            self.publisher = Publisher(self.pool, self.cfg.redis_url, metrics=self.metrics)
            tasks = [
                asyncio.create_task(self.run_forever(), name="follow"),
                asyncio.create_task(self.publisher.run(), name="publish"),
                asyncio.create_task(self.run_finality(), name="finality"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            finally:  # cancelled or one task failed: none outlives the pool
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            for t in done:
                t.result()
        finally:
            await self.pool.release(leader)
            await self.close()

    async def close(self) -> None:
        if self.publisher:
            await self.publisher.close()
        await self.rpc.close()
        if self.pool:
            await self.pool.close()


async def _retry_connect(make: Callable[[], Awaitable[T]]) -> T:
    return await retry(make, transient=is_connection_error, policy=DATABASE, log=log, event="postgres_unavailable")
