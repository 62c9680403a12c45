"""Stage 1: where transactions come from.

* ``live``: ``logsSubscribe`` mentioning the program at confirmed commitment. The
  subscription is opened *before* backfill, so nothing falls between the two.
* ``backfill``: ``getSignaturesForAddress`` (newest first, paged with ``before``)
  down to the cursor's signature, then ``getTransaction`` in JSON-RPC batches,
  delivered oldest first. Run on start and after every reconnect.
* A live notification whose logs say ``Log truncated`` is fetched in full with
  ``getTransaction``.

RPC errors are retried with exponential backoff; a transaction the node cannot
return after the retries is reported to the caller (recorded in skipped_items).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import structlog
import websockets

from indexer.decode import RawTx
from mirror_common.retry import RPC, RPC_MISSING, Backoff, retry

log = structlog.get_logger("indexer.source")


class RpcError(RuntimeError):
    def __init__(self, method: str, error: Any) -> None:
        self.error = error
        super().__init__(f"{method}: {error}")


class RequestTooLarge(RuntimeError):
    """The node refused the request body's size (HTTP 413); retrying it cannot help."""


class Rpc:
    """A small JSON-RPC client with batches and retries."""

    def __init__(self, url: str, *, retries: int = 6, timeout: float = 30.0) -> None:
        self.url = url
        self.retries = retries
        self.http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=8))
        self._ids = itertools.count(1)
        self.errors = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, body: Any) -> Any:
        async def post() -> Any:
            r = await self.http.post(self.url, json=body)
            if r.status_code == 413:
                raise RequestTooLarge(f"{self.url}: request of {len(json.dumps(body))} bytes refused (HTTP 413)")
            if r.status_code >= 500 or r.status_code == 429:
                raise httpx.HTTPStatusError(f"HTTP {r.status_code}", request=r.request, response=r)
            return r.json()

        def count(_: BaseException) -> None:
            self.errors += 1

        return await retry(
            post,
            transient=lambda e: isinstance(e, httpx.HTTPError | json.JSONDecodeError),
            policy=dataclasses.replace(RPC, attempts=self.retries + 1),
            log=log,
            event="rpc_retry",
            on_retry=count,
            url=self.url,
        )

    async def call(self, method: str, *params: Any) -> Any:
        reply = await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if "error" in reply:
            raise RpcError(method, reply["error"])
        return reply["result"]

    async def batch(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        """Results in order; an entry is an RpcError when that call failed. One HTTP
        request, split in halves while the node refuses its size (its body limit is
        50 KiB, as Agave's)."""
        if not params_list:
            return []
        try:
            return await self._batch_once(method, params_list)
        except RequestTooLarge:
            if len(params_list) == 1:
                raise
            half = len(params_list) // 2
            return await self.batch(method, params_list[:half]) + await self.batch(method, params_list[half:])

    async def _batch_once(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[Any]:
        first = next(self._ids)
        body = [{"jsonrpc": "2.0", "id": first + i, "method": method, "params": list(p)} for i, p in enumerate(params_list)]
        for _ in range(len(params_list) - 1):
            next(self._ids)
        replies = await self._post(body)
        if isinstance(replies, dict):  # the whole batch was refused
            raise RpcError(method, replies.get("error"))
        by_id = {r.get("id"): r for r in replies}
        out: list[Any] = []
        for i in range(len(params_list)):
            r = by_id.get(first + i, {"error": {"message": "missing from batch reply"}})
            out.append(RpcError(method, r["error"]) if "error" in r else r.get("result"))
        return out

    async def get_slot(self, commitment: str = "confirmed") -> int:
        return int(await self.call("getSlot", {"commitment": commitment}))

    async def signatures_since(self, address: str, until: str | None, *, page: int = 1000, min_slot: int = 0) -> list[dict[str, Any]]:
        """Every signature for ``address`` newer than ``until`` (all when None) and at or
        above ``min_slot``, oldest first."""
        found: list[dict[str, Any]] = []
        before: str | None = None
        while True:
            cfg: dict[str, Any] = {"limit": page, "commitment": "confirmed"}
            if until:
                cfg["until"] = until
            if before:
                cfg["before"] = before
            chunk = await self.call("getSignaturesForAddress", address, cfg)
            found.extend(s for s in chunk if s["slot"] >= min_slot)
            if len(chunk) < page or (chunk and chunk[-1]["slot"] < min_slot):
                break
            before = chunk[-1]["signature"]
        found.reverse()
        return found

    async def transactions(self, signatures: Sequence[str], *, attempts: int = 5) -> dict[str, RawTx | None]:
        """getTransaction for each signature (batched); None for those the node could not return."""
        cfg = {"encoding": "json", "commitment": "confirmed", "maxSupportedTransactionVersion": 0}
        result: dict[str, RawTx | None] = {}
        pending = list(signatures)
        backoff = Backoff(dataclasses.replace(RPC_MISSING, attempts=attempts))
        for attempt in range(attempts):
            if not pending:
                break
            replies = await self.batch("getTransaction", [[s, cfg] for s in pending])
            retry = []
            for sig, r in zip(pending, replies, strict=False):
                if isinstance(r, RpcError) or r is None:
                    retry.append(sig)
                    continue
                meta = r.get("meta") or {}
                result[sig] = RawTx(sig, int(r["slot"]), meta.get("err"), meta.get("logMessages"), r.get("blockTime"), "backfill")
            pending = retry
            if pending and attempt + 1 < attempts:
                self.errors += 1
                log.warning("get_transaction_retry", missing=len(pending), attempt=attempt + 1)
                await backoff.wait()
        for sig in pending:
            result[sig] = None
        return result


async def backfill(
    rpc: Rpc, program_id: str, until: str | None, *, batch: int = 100, min_slot: int = 0
) -> AsyncIterator[tuple[list[RawTx], list[str], int]]:
    """Yields (transactions oldest first, signatures the node could not return, total to fetch)."""
    sigs = await rpc.signatures_since(program_id, until, min_slot=min_slot)
    total = len(sigs)
    for i in range(0, total, batch):
        chunk = sigs[i : i + batch]
        # Failed transactions change nothing: no need to fetch them.
        wanted = [s["signature"] for s in chunk if s.get("err") is None]
        got = await rpc.transactions(wanted)
        txs: list[RawTx] = []
        missing: list[str] = []
        for s in chunk:
            sig = s["signature"]
            if s.get("err") is not None:
                txs.append(RawTx(sig, int(s["slot"]), s["err"], None, s.get("blockTime"), "backfill"))
            elif got.get(sig) is None:
                missing.append(sig)
            else:
                txs.append(got[sig])  # type: ignore[arg-type]
        yield txs, missing, total


class LiveStream:
    """A logsSubscribe(mentions program, confirmed) connection; notifications go to a queue."""

    def __init__(self, ws_url: str, program_id: str) -> None:
        self.ws_url = ws_url
        self.program_id = program_id
        self.queue: asyncio.Queue[RawTx | Exception] = asyncio.Queue()
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveStream:
        self._ws = await websockets.connect(self.ws_url, max_size=None, ping_interval=5, ping_timeout=10, open_timeout=10)
        await self._ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "logsSubscribe",
                    "params": [{"mentions": [self.program_id]}, {"commitment": "confirmed"}],
                }
            )
        )
        while True:  # the subscription id comes before any notification
            msg = json.loads(await asyncio.wait_for(self._ws.recv(), 10))
            if msg.get("id") == 1:
                if "error" in msg:
                    raise RpcError("logsSubscribe", msg["error"])
                break
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for message in self._ws:
                try:
                    msg = json.loads(message)
                    if msg.get("method") != "logsNotification":
                        continue
                    res = msg["params"]["result"]
                    v = res["value"]
                    self.queue.put_nowait(RawTx(v["signature"], int(res["context"]["slot"]), v.get("err"), v.get("logs"), None, "live"))
                except (KeyError, TypeError, ValueError) as e:
                    log.warning("bad_notification", error=str(e), message=str(message)[:200])
            self.queue.put_nowait(ConnectionError("websocket closed"))
        except Exception as e:  # noqa: BLE001 - handed to the consumer, which reconnects
            self.queue.put_nowait(e)

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        if self._ws is not None:
            await self._ws.close()
