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
import random
import time
from dataclasses import dataclass

import asyncpg
import structlog

from indexer.commit import commit_batch, create_pool, read_cursor, record_skip
from indexer.decode import DecodedTx, Event, RawTx, Skip, decode_tx
from indexer.metrics import Metrics
from indexer.publish import Publisher
from indexer.source import LiveStream, Rpc, backfill
from mirror_common.logs import is_truncated

log = structlog.get_logger("indexer")

_LEADER_LOCK = 0x4D495253
_APPLY_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, KeyError, TypeError, ValueError)
_DB_ERRORS = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, ConnectionError, OSError)


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
        self.pool: asyncpg.Pool | None = None
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
            d = decode_tx(tx, self.cfg.program_id)
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

    async def _commit(self, decoded: list[DecodedTx], advance_cursor: bool = True) -> list[Event]:
        """commit_batch; a batch a handler or the database refuses is retried one transaction
        at a time, and a transaction that still fails is recorded (apply_error) and passed,
        so one hostile transaction can neither stop the indexer nor hide the others."""
        try:
            return await self._with_db(lambda conn: commit_batch(conn, self.cfg.program_id, decoded, advance_cursor=advance_cursor))
        except _APPLY_ERRORS as e:
            if len(decoded) > 1:
                stored: list[Event] = []
                for d in decoded:
                    stored += await self._commit([d], advance_cursor)
                return stored
            d = decoded[0]
            log.error("apply_error", signature=d.signature, error=f"{type(e).__name__}: {e}")
            self.metrics.errors.labels("apply").inc()
            self.metrics.skipped.labels("apply_error").inc()
            poisoned = DecodedTx(d.signature, d.slot, d.block_time, d.failed, [],
                                 [Skip(d.signature, -1, d.slot, "apply_error", f"{type(e).__name__}: {e}"[:1000])])
            return await self._with_db(lambda conn: commit_batch(conn, self.cfg.program_id, [poisoned], advance_cursor=advance_cursor))

    async def _with_db(self, fn, attempts: int = 60):  # type: ignore[no-untyped-def]
        """Runs fn(conn) in a pooled connection, retrying while PostgreSQL is unreachable."""
        assert self.pool is not None
        delay = 0.1
        for attempt in range(attempts):
            try:
                async with self.pool.acquire() as conn:
                    return await fn(conn)
            except _DB_ERRORS as e:
                self.metrics.errors.labels("postgres").inc()
                if attempt + 1 == attempts:
                    raise
                log.warning("postgres_unavailable", error=str(e) or type(e).__name__, retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

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
        async for txs, missing, total in backfill(self.rpc, self.cfg.program_id, cursor_sig,
                                                  batch=self.cfg.backfill_batch, min_slot=from_slot or 0):
            self.metrics.backfill_total.set(total)
            for sig in missing:
                log.error("transaction_unavailable", signature=sig)
                self.metrics.skipped.labels("rpc_unavailable").inc()
                await self._with_db(lambda c, s=sig: record_skip(c, self.cfg.program_id, s, None, "rpc_unavailable",
                                                                 "getTransaction returned nothing after retries"))
            stored += await self.process(txs)
            done += len(txs) + len(missing)
            self.metrics.backfill_done.set(done)
            now = time.monotonic()
            if self.cfg.progress and total and (now - shown >= 1.0 or done >= total):
                shown = now
                rate = done / max(now - started, 1e-6)
                log.info("backfill_progress", done=done, total=total, pct=round(100 * done / total, 1), tx_per_s=round(rate),
                         eta_s=round((total - done) / rate, 1) if rate else None)
        if done:
            log.info("backfill_done", transactions=done, events=stored, seconds=round(time.monotonic() - started, 2))
        return stored

    async def retry_unavailable(self) -> int:
        """Transactions the node could not return before (skipped_items, rpc_unavailable):
        asks again, applies those it returns now (a late arrival like any other) and marks
        their skip resolved. Returns how many were recovered."""
        rows = await self._with_db(lambda c: c.fetch(
            """SELECT signature FROM skipped_items WHERE reason = 'rpc_unavailable' AND resolved_at IS NULL
               AND program_id = $1 ORDER BY id LIMIT 1000""", self.cfg.program_id))
        if not rows:
            return 0
        got = await self.rpc.transactions([r["signature"] for r in rows], attempts=2)
        found = [tx for tx in got.values() if tx is not None]
        if not found:
            return 0
        await self.process(found, advance_cursor=False)
        await self._with_db(lambda c: c.execute(
            """UPDATE skipped_items SET resolved_at = now() WHERE reason = 'rpc_unavailable' AND resolved_at IS NULL
               AND signature = ANY($1::text[])""", [tx.signature for tx in found]))
        log.info("unavailable_transactions_recovered", count=len(found))
        return len(found)

    async def follow(self) -> None:
        """Subscribe, backfill the gap, then apply live notifications in batches; returns on a dropped stream."""
        async with LiveStream(self.cfg.ws_url, self.cfg.program_id) as live:
            self.live = live
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
        which backfills the gap from the cursor."""
        delay = 0.2
        while True:
            started = time.monotonic()
            try:
                await self.follow()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - see the docstring
                self.live_ready.clear()
                self.metrics.reconnects.inc()
                self.metrics.errors.labels("source").inc()
                if time.monotonic() - started > 30:
                    delay = 0.2  # it ran fine for a while: start the backoff over
                log.warning("reconnecting", error=f"{type(e).__name__}: {e}", retry_in=round(delay, 2))
                await asyncio.sleep(delay * (1 + random.random() / 4))
                delay = min(delay * 2, 5.0)

    # -- finality ------------------------------------------------------------------

    async def finalize_once(self) -> int:
        """Marks events finalized once the node reports their transaction finalized."""
        fin_slot = await self.rpc.get_slot("finalized")
        rows = await self._with_db(lambda c: c.fetch(
            """SELECT signature, max(slot) AS slot FROM chain_events WHERE commitment = 'confirmed' AND slot <= $1
               GROUP BY signature ORDER BY 2 LIMIT 256""", fin_slot))
        if not rows:
            await self._with_db(lambda c: self._set_finalized_cursor(c, None, fin_slot))
            return 0
        sigs = [r["signature"] for r in rows]
        statuses = (await self.rpc.call("getSignatureStatuses", sigs, {"searchTransactionHistory": True}))["value"]
        final = [s for s, st in zip(sigs, statuses) if st and st.get("confirmationStatus") == "finalized"]
        for s, st in zip(sigs, statuses):
            if st is None:
                log.error("confirmed_transaction_vanished", signature=s)
        if final:
            async def mark(c: asyncpg.Connection) -> None:
                async with c.transaction():
                    await c.execute("UPDATE chain_events SET commitment = 'finalized' WHERE signature = ANY($1::text[]) AND commitment = 'confirmed'", final)
                    await self._set_finalized_cursor(c, final[-1], fin_slot)
            await self._with_db(mark)
        return len(final)

    async def _set_finalized_cursor(self, c: asyncpg.Connection, signature: str | None, slot: int) -> None:
        # Finalized up to `slot` only when nothing confirmed remains at or below it.
        pending = await c.fetchval("SELECT min(slot) FROM chain_events WHERE commitment = 'confirmed'")
        upto = slot if pending is None else min(slot, pending - 1)
        await c.execute(
            """INSERT INTO indexer_cursor (program_id, commitment, signature, slot) VALUES ($1, 'finalized', $2, $3)
               ON CONFLICT (program_id, commitment) DO UPDATE SET signature = COALESCE(EXCLUDED.signature, indexer_cursor.signature),
                   slot = GREATEST(indexer_cursor.slot, EXCLUDED.slot), updated_at = now()""",
            self.cfg.program_id, signature, upto,
        )
        self.metrics.finalized_slot.set(upto)

    async def run_finality(self) -> None:
        while True:
            try:
                while await self.finalize_once() == 256:
                    pass
                tip = await self.rpc.get_slot("confirmed")
                cursor_slot = await self._with_db(lambda c: c.fetchval(
                    "SELECT slot FROM indexer_cursor WHERE program_id = $1 AND commitment = 'confirmed'", self.cfg.program_id))
                # Live with nothing queued: every program transaction up to the tip is applied,
                # however old the cursor's slot (it moves only with the program's transactions).
                idle = self.live_ready.is_set() and self.live is not None and self.live.queue.empty()
                self.metrics.slot_lag.set(0 if idle else max(0, tip - (cursor_slot or 0)))
            except Exception as e:  # noqa: BLE001 - a background loop must not die
                self.metrics.errors.labels("finality").inc()
                log.warning("finality_error", error=str(e) or type(e).__name__)
            await asyncio.sleep(self.cfg.finality_interval)

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> None:
        self.pool = await _retry_connect(lambda: create_pool(self.cfg.database_url, max_size=4))
        leader = await self.pool.acquire()
        try:
            while not await leader.fetchval("SELECT pg_try_advisory_lock($1)", _LEADER_LOCK):
                log.info("waiting_for_leader_lock")
                await asyncio.sleep(1)
            self.publisher = Publisher(self.pool, self.cfg.redis_url, metrics=self.metrics)
            tasks = [
                asyncio.create_task(self.run_forever(), name="follow"),
                asyncio.create_task(self.publisher.run(), name="publish"),
                asyncio.create_task(self.run_finality(), name="finality"),
            ]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in tasks:
                t.cancel()
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


async def _retry_connect(make, attempts: int = 60):  # type: ignore[no-untyped-def]
    delay = 0.1
    for attempt in range(attempts):
        try:
            return await make()
        except _DB_ERRORS as e:
            if attempt + 1 == attempts:
                raise
            log.warning("postgres_unavailable", error=str(e), retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
