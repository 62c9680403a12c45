"""Content-addressed storage: one interface (``ContentStore``), two backends with the same CIDs.

- ``EmbeddedStore``: blocks on local disk under ``MIRROR_DATA_DIR/ipfs``; no node to run.
- ``KuboStore``: a Kubo node through its RPC API (``IPFS_API_URL``), with aioipfs.

Both lay files out as Kubo's ``unixfs-v1-2025`` import profile does (CIDv1, raw leaves, sha2-256,
1 MiB chunks, balanced DAG of at most 1024 links per node; see ``unixfs``), so the same bytes get the
same CID in either, and in any node importing with that profile. Neither trusts what it reads: every
block is verified against its CID before ``get`` returns, and every failure is a ``ContentError``:
``BadCid``, ``NotFound``, ``TooLarge`` or ``Corrupt`` (``TooManyBlocks`` for a DAG of more blocks than
its size needs), or ``Unavailable`` when a node cannot be reached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from mirror_common.ipfs.cid import Cid, parse_cid
from mirror_common.ipfs.embedded import EmbeddedStore
from mirror_common.ipfs.errors import BadCid, ContentError, Corrupt, NotFound, TooLarge, TooManyBlocks, Unavailable
from mirror_common.ipfs.kubo import KuboStore
from mirror_common.ipfs.unixfs import CHUNK_SIZE, MAX_LINKS, compute_cid

if TYPE_CHECKING:
    from mirror_common.config import Settings

__all__ = [
    "CHUNK_SIZE",
    "MAX_LINKS",
    "BadCid",
    "Cid",
    "ContentError",
    "ContentStore",
    "Corrupt",
    "EmbeddedStore",
    "KuboStore",
    "NotFound",
    "TooLarge",
    "TooManyBlocks",
    "Unavailable",
    "compute_cid",
    "open_store",
    "parse_cid",
]


class ContentStore(Protocol):
    async def put(self, data: bytes) -> str:
        """Stores ``data``; its CID (CIDv1, base32), the one Kubo's unixfs-v1-2025 import gives."""
        ...

    async def get(self, cid: str, max_size: int) -> bytes:
        """The bytes ``cid`` names, verified against it; ``TooLarge`` past ``max_size`` bytes."""
        ...

    async def has(self, cid: str) -> bool:
        """Whether every block of ``cid`` is held locally (nothing fetched from a network)."""
        ...

    async def close(self) -> None: ...


def open_store(settings: Settings) -> ContentStore:
    """Kubo when ``ipfs_api_url`` is set, else the embedded store under ``mirror_data_dir/ipfs``."""
    if settings.ipfs_api_url:
        return KuboStore(settings.ipfs_api_url, timeout=settings.ipfs_timeout)
    return EmbeddedStore(settings.mirror_data_dir / "ipfs")
