"""Reading a UnixFS file block by block, trusting no block until it hashes to the CID that named it.

Both stores read through ``read_file``: the embedded one fetches blocks from disk, the Kubo one over
RPC. Every block is checked against its CID before it is decoded, so the bytes returned are exactly
the ones the root CID commits to, whoever served them. ``max_size`` is enforced before more than one
block is fetched: from a raw root's length, and from a dag-pb root's UnixFS ``filesize``; each child's bytes
must match the size its parent declared, so a DAG that lies about its sizes fails as ``Corrupt``
instead of growing past the limit.

The work of a read is bounded by its size too, not only its output: a link that declares 0 bytes is
refused (``decode_node``), so every leaf brings at least one byte, and the blocks a read may fetch
are capped by ``block_budget`` of the root's declared size (at most ``max_size``). The cap is
reserved as each node is decoded, before its children are fetched, so a DAG that links the same
tiny block millions of times fails as ``TooManyBlocks`` at the node that goes over, not after the
fetches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mirror_common.ipfs.cid import RAW, Cid
from mirror_common.ipfs.errors import Corrupt, TooLarge, TooManyBlocks
from mirror_common.ipfs.unixfs import CHUNK_SIZE, decode_node

MAX_BLOCK = 2 * CHUNK_SIZE  # Kubo's own ceiling for a block (bitswap refuses larger)
MAX_DEPTH = 16  # 1024**16 chunks is beyond any file; deeper is a malicious DAG
HASH_IN_THREAD = 256 * 1024  # hash large blocks off the event loop
PREFETCH = 8  # children of a node in flight at once: at most PREFETCH * MAX_BLOCK bytes ahead per level
# The smallest leaves a file may average. Kubo's profiles cut 256 KiB (legacy-cid-v0, unixfs-v0-2015) and
# 1 MiB (unixfs-v1-2025) chunks; its content-defined chunkers cut no chunk under 128 KiB (buzhash) or
# about 85 KiB (rabin's default minimum). Only a file's last chunk is shorter, and the budget rounds up.
MIN_LEAF = 64 * 1024

FetchBlock = Callable[[Cid], Awaitable[bytes]]


def block_budget(size: int) -> int:
    """The most blocks a read of a ``size``-byte file may fetch, root included: one leaf per ``MIN_LEAF``
    bytes (rounded up), as many inner nodes again (any tree whose inner nodes have two or more links has
    fewer inner nodes than leaves) and a spine of ``MAX_DEPTH`` nodes with a single link (a balanced
    DAG's right edge). Kubo's imports need far less: at 174 or 1024 links per node their inner nodes
    are under 1% of their leaves."""
    return 2 * -(-size // MIN_LEAF) + MAX_DEPTH


async def verified_block(cid: Cid, fetch: FetchBlock) -> bytes:
    block = await fetch(cid)
    if len(block) > MAX_BLOCK:
        raise Corrupt(f"block {cid} is {len(block)} bytes (at most {MAX_BLOCK})")
    ok = await asyncio.to_thread(cid.matches, block) if len(block) > HASH_IN_THREAD else cid.matches(block)
    if not ok:
        raise Corrupt(f"block {cid} does not hash to its CID")
    return block


async def read_file(root: Cid, fetch: FetchBlock, max_size: int) -> bytes:
    """The file under ``root``, verified. Raises ``TooLarge``, ``Corrupt`` (``TooManyBlocks`` for a DAG
    of more blocks than its size warrants), ``BadCid`` (not a file), and whatever ``fetch`` raises for a
    missing block (``NotFound``)."""
    out = bytearray()
    budget = 0  # block_budget of the root's declared size, set once that size has passed max_size
    reserved = 1  # blocks fetched or committed to: the root, then every link of every node decoded

    async def read(cid: Cid, block: bytes, expected: int | None, depth: int) -> None:
        nonlocal budget, reserved
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
        if depth == 0:
            budget = block_budget(size)
        reserved += len(node.links)
        if reserved > budget:
            raise TooManyBlocks(
                f"block {cid} brings the DAG to {reserved} blocks; a file of its size needs at most {budget} "
                f"(leaves averaging {MIN_LEAF} bytes or more)"
            )
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


async def has_file(root: Cid, fetch: FetchBlock, present: Callable[[Cid], Awaitable[bool]]) -> bool:
    """Whether every block under ``root`` is present: inner nodes are fetched and verified, raw leaves
    only looked up. A missing or corrupt inner node counts as absent; a directory raises ``BadCid``.
    Each distinct block is visited once, so a DAG linking the same block over and over costs no more
    than the blocks it holds."""
    seen: set[Cid] = set()

    async def walk(cid: Cid, depth: int) -> bool:
        if cid in seen:
            return True
        seen.add(cid)
        if not await present(cid):
            return False
        if cid.codec == RAW:
            return True
        try:
            if depth > MAX_DEPTH:
                raise Corrupt(f"DAG deeper than {MAX_DEPTH} levels")
            node = decode_node(await verified_block(cid, fetch))
        except Corrupt:
            return False
        for link in node.links:
            if not await walk(link.cid, depth + 1):
                return False
        return True

    return await walk(root, 0)
