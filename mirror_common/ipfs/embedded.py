"""The embedded content store: UnixFS blocks on local disk, no IPFS node needed.

``put`` lays the bytes out exactly as Kubo's ``unixfs-v1-2025`` import does (``unixfs.build_file``),
so the CID it returns is the one Kubo would give and the content can later be served by, or moved
to, any IPFS node. Each block is one file named by its CID (``blocks/<last 2 chars>/<cid>``),
written to a temporary file, fsynced and renamed into place, so a crash leaves a block either whole
or absent, never half written; the directory is fsynced too, so a CID returned (and perhaps
published on chain) still resolves after a power loss. A block already present is rewritten only
when it no longer hashes to its CID. ``get`` trusts no file: every block is verified on the way out
(``reader.read_file``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from mirror_common.ipfs.cid import Cid, parse_cid
from mirror_common.ipfs.errors import Corrupt, NotFound
from mirror_common.ipfs.reader import MAX_BLOCK, has_file, read_file
from mirror_common.ipfs.unixfs import build_file, chunks_of


class EmbeddedStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blocks = self.root / "blocks"

    def block_path(self, cid: Cid) -> Path:
        name = str(cid)
        return self.blocks / name[-2:] / name

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def get(self, cid: str, max_size: int) -> bytes:
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        return await read_file(parse_cid(cid), self._fetch, max_size)

    async def has(self, cid: str) -> bool:
        return await has_file(parse_cid(cid), self._fetch, self._present)

    async def close(self) -> None:
        pass

    def _put(self, data: bytes) -> str:
        return str(build_file(chunks_of(data), self._write_block))

    def _write_block(self, cid: Cid, block: bytes) -> None:
        path = self.block_path(cid)
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == len(block) and cid.matches(path.read_bytes()):
                return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(block)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _read_block(self, cid: Cid) -> bytes:
        try:
            with open(self.block_path(cid), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_BLOCK:  # refuse before reading a file that cannot be a block
                    raise Corrupt(f"block {cid} is {size} bytes on disk (at most {MAX_BLOCK})")
                return f.read()
        except FileNotFoundError:
            raise NotFound(f"block {cid} is not in the store") from None

    async def _fetch(self, cid: Cid) -> bytes:
        return await asyncio.to_thread(self._read_block, cid)

    async def _present(self, cid: Cid) -> bool:
        return await asyncio.to_thread(self.block_path(cid).is_file)
