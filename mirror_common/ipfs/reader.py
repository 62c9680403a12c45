"""Reading a UnixFS file block by block, trusting no block until it hashes to the CID that named it.

Both stores read through ``read_file``: the embedded one fetches blocks from disk, the Kubo one over
RPC. Every block is checked against its CID before it is decoded, so the bytes returned are exactly
the ones the root CID commits to, whoever served them. ``max_size`` is enforced before more than one
block is fetched: from a raw root's length, and from a dag-pb root's UnixFS ``filesize``; each child's bytes
must match the size its parent declared, so a DAG that lies about its sizes fails as ``Corrupt``
instead of growing past the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mirror_common.ipfs.cid import RAW, Cid
from mirror_common.ipfs.errors import Corrupt, TooLarge
from mirror_common.ipfs.unixfs import CHUNK_SIZE, decode_node

MAX_BLOCK = 2 * CHUNK_SIZE  # Kubo's own ceiling for a block (bitswap refuses larger)
MAX_DEPTH = 16  # 1024**16 chunks is beyond any file; deeper is a malicious DAG
HASH_IN_THREAD = 256 * 1024  # hash large blocks off the event loop
PREFETCH = 8  # children of a node in flight at once: at most PREFETCH * MAX_BLOCK bytes ahead per level

FetchBlock = Callable[[Cid], Awaitable[bytes]]


async def verified_block(cid: Cid, fetch: FetchBlock) -> bytes:
    block = await fetch(cid)
    if len(block) > MAX_BLOCK:
        raise Corrupt(f"block {cid} is {len(block)} bytes (at most {MAX_BLOCK})")
    ok = await asyncio.to_thread(cid.matches, block) if len(block) > HASH_IN_THREAD else cid.matches(block)
    if not ok:
        raise Corrupt(f"block {cid} does not hash to its CID")
    return block


async def read_file(root: Cid, fetch: FetchBlock, max_size: int) -> bytes:
    """The file under ``root``, verified. Raises ``TooLarge``, ``Corrupt``, ``BadCid`` (not a file),
    and whatever ``fetch`` raises for a missing block (``NotFound``)."""
    out = bytearray()

    async def read(cid: Cid, block: bytes, expected: int | None, depth: int) -> None:
        node = None if cid.codec == RAW else decode_node(block)
        size = len(block) if node is None else node.declared_size
        if expected is not None and size != expected:
            raise Corrupt(f"block {cid} holds {size} bytes but its parent declares {expected}")
        if len(out) + size > max_size:
            raise TooLarge(f"content is at least {len(out) + size} bytes (limit {max_size})")
        if node is None:
            out.extend(block)
            return
        out.extend(node.data)
        if node.links and depth >= MAX_DEPTH:
            raise Corrupt(f"DAG deeper than {MAX_DEPTH} levels")
        children = list(zip(node.links, node.blocksizes, strict=True))
        # The next few children are fetched and verified while one is consumed (a node's round trips overlap).
        pending: dict[int, asyncio.Task[bytes]] = {}
        try:
            for i, (link, blocksize) in enumerate(children):
                for j in range(i, min(i + PREFETCH, len(children))):
                    if j not in pending:
                        pending[j] = asyncio.create_task(verified_block(children[j][0].cid, fetch))
                await read(link.cid, await pending.pop(i), blocksize, depth + 1)
        finally:
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)

    await read(root, await verified_block(root, fetch), None, 0)
    return bytes(out)


async def has_file(root: Cid, fetch: FetchBlock, present: Callable[[Cid], Awaitable[bool]], depth: int = 0) -> bool:
    """Whether every block under ``root`` is present: inner nodes are fetched and verified, raw leaves
    only looked up. A missing or corrupt inner node counts as absent; a directory raises ``BadCid``."""
    if not await present(root):
        return False
    if root.codec == RAW:
        return True
    try:
        if depth > MAX_DEPTH:
            raise Corrupt(f"DAG deeper than {MAX_DEPTH} levels")
        node = decode_node(await verified_block(root, fetch))
    except Corrupt:
        return False
    for link in node.links:
        if not await has_file(link.cid, fetch, present, depth + 1):
            return False
    return True
