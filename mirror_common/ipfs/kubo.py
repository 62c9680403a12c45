"""The Kubo content store: a Kubo (IPFS) node through its RPC API, with aioipfs.

``put`` adds with the ``unixfs-v1-2025`` import settings passed explicitly on every call (CIDv1, raw
leaves, sha2-256, ``size-1048576`` chunks, 1024 links per node, balanced, no inlining), so the node's
own Import config does not matter; the CID Kubo answers is then checked against the one computed
here, and a node that lays files out otherwise is refused instead of silently yielding CIDs the
embedded store cannot reproduce. ``get`` does not trust the node either: it fetches block by block
(``block/get``) and verifies each against its CID as the embedded store does (``reader.read_file``),
which also lets it refuse a file over ``max_size`` from its root before fetching the rest. A block
the node cannot find within ``timeout`` seconds (an online node searches the network, and says so
when its own timeout ends) is ``NotFound``. No call waits on the node forever (aioipfs sets no read
timeout): each has a deadline (``call_deadline``), and a call that misses it, ``put`` or a block read,
is ``Unavailable``: the node hangs, worth trying again, not a verdict on the content.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
import aioipfs  # type: ignore[import-untyped]  # no type information shipped
from aioipfs import multi

from mirror_common.ipfs.cid import Cid, parse_cid
from mirror_common.ipfs.errors import ContentError, Corrupt, NotFound, Unavailable
from mirror_common.ipfs.reader import has_file, read_file
from mirror_common.ipfs.unixfs import CHUNK_SIZE, MAX_LINKS, compute_cid

# `ipfs add` options equal to the unixfs-v1-2025 profile (kubo config/profile.go).
ADD_PARAMS = {
    "cid-version": "1",
    "raw-leaves": "true",
    "hash": "sha2-256",
    "chunker": f"size-{CHUNK_SIZE}",
    "max-file-links": str(MAX_LINKS),
    "trickle": "false",
    "inline": "false",
    "pin": "true",
}
NOT_FOUND_MARKERS = ("not found", "could not find", "context deadline exceeded", "timeout")
# What aioipfs raises besides APIError: a refused token, an unreachable or vanished node.
TRANSPORT_ERRORS = (aioipfs.RPCAccessDenied, aioipfs.IPFSConnectionError, aiohttp.ClientError, ConnectionError)
ROUND_TRIP_SLACK_S = 5.0  # beyond the node's own timeout: the answer still has to come back
MIN_TRANSFER_RATE = 1 << 20  # bytes per second any working node takes an add at (localhost: ~70 MiB/s)


class KuboStore:
    def __init__(self, api_url: str, *, timeout: float = 30.0) -> None:
        self.api_url = api_url
        self.timeout = timeout
        self._client: Any = None

    def _connect(self) -> Any:
        # Made on first use, inside the event loop: aioipfs binds its aiohttp session to the running loop.
        if self._client is None:
            if self.api_url.startswith("/"):  # a multiaddr, as Kubo's Addresses.API writes it
                self._client = aioipfs.AsyncIPFS(maddr=self.api_url)
            else:
                url = urlsplit(self.api_url)
                if url.scheme not in ("http", "https") or not url.hostname:
                    raise ValueError(f"IPFS API URL must be http(s)://host:port or a multiaddr, not {self.api_url!r}")
                self._client = aioipfs.AsyncIPFS(host=url.hostname, port=url.port or 5001, scheme=url.scheme)
        return self._client

    def call_deadline(self, sent_bytes: int = 0) -> float:
        """Seconds one RPC call may take before we give up on the node: its own ``timeout``, slack for
        the round trip, and time to send ``sent_bytes`` at ``MIN_TRANSFER_RATE``."""
        return self.timeout + ROUND_TRIP_SLACK_S + sent_bytes / MIN_TRANSFER_RATE

    async def put(self, data: bytes) -> str:
        client = self._connect()
        deadline = self.call_deadline(len(data))
        try:
            async with asyncio.timeout(deadline):
                added = await client.core.add_single(multi.multiform_bytes(data), params=ADD_PARAMS)
        except TimeoutError:
            raise Unavailable(f"Kubo at {self.api_url} did not take {len(data)} bytes within {deadline:.0f}s") from None
        except aioipfs.APIError as e:
            raise ContentError(f"Kubo add failed: {e.message}") from e
        except TRANSPORT_ERRORS as e:
            raise Unavailable(f"Kubo at {self.api_url}: {e!r}") from e
        expected = await asyncio.to_thread(compute_cid, data)
        got = str(added.get("Hash", "")) if isinstance(added, dict) else ""
        if got != expected:
            raise Corrupt(f"Kubo stored the content as {got!r}, not {expected} (unixfs-v1-2025): refusing its layout")
        return expected

    async def get(self, cid: str, max_size: int) -> bytes:
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        return await read_file(parse_cid(cid), self._fetch, max_size)

    async def has(self, cid: str) -> bool:
        """Whether the node holds every block locally (asked with ``offline``: no network search)."""
        return await has_file(parse_cid(cid), lambda c: self._fetch(c, offline=True), self._present)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _call(self, endpoint: str, cid: Cid, *, offline: bool, raw: bool) -> Any:
        client = self._connect()
        params = {"arg": str(cid), "timeout": f"{self.timeout}s", "offline": "true" if offline else "false"}
        url = client.core.url(endpoint)
        try:
            # The node's own `timeout` ends its search; ours is the backstop for a node that hangs.
            async with asyncio.timeout(self.call_deadline()):
                if raw:
                    return await client.core.fetch_raw(url, params=params)
                return await client.core.fetch_json(url, params=params)
        except TimeoutError:
            # A working node answers its own `timeout` with "context deadline exceeded" (NotFound, above): one
            # that says nothing past it hangs, which is the node's trouble, not the content's.
            raise Unavailable(f"Kubo at {self.api_url} did not answer for block {cid} within {self.call_deadline():.0f}s") from None
        except aioipfs.APIError as e:
            message = str(e.message)
            if any(marker in message.lower() for marker in NOT_FOUND_MARKERS):
                raise NotFound(f"block {cid}: {message}") from None
            raise ContentError(f"Kubo {endpoint} {cid}: {message}") from e
        except TRANSPORT_ERRORS as e:
            raise Unavailable(f"Kubo at {self.api_url}: {e!r}") from e

    async def _fetch(self, cid: Cid, *, offline: bool = False) -> bytes:
        return cast(bytes, await self._call("block/get", cid, offline=offline, raw=True))

    async def _present(self, cid: Cid) -> bool:
        try:
            await self._call("block/stat", cid, offline=True, raw=False)
        except NotFound:
            return False
        return True
