"""Content stores (mirror_common.ipfs): the embedded store and a real Kubo v0.42.0 give the same CIDs,
and every read is verified against its CID before anything gets the bytes.

CID references, besides the live Kubo node the ``kubo`` fixture runs:
Kubo's own test vectors for its ``unixfs-v1-2025`` profile (kubo v0.42.0,
test/cli/cid_profiles_test.go, ``unixfsV12025``), over deterministic data from
test/cli/testutils/random_deterministic.go: ChaCha20 keystream, key sha256(seed), zero nonce. The
files at and over 1024 chunks (1 GiB) are too slow to push through Kubo in every run (about 15 s
for the add alone on 2 cores, measured), so for them the embedded layout is compared against those
vectors; this session also added the 1024 MiB + 1 byte file to a real Kubo 0.42.0 over RPC (the
``kubo`` fixture's node, ``KuboStore.put``) and got the same CID, bafybeibdsi225….
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import base58
import pytest
from aioipfs import multi
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror_common.config import Settings
from mirror_common.ipfs import (
    CHUNK_SIZE,
    BadCid,
    ContentStore,
    Corrupt,
    EmbeddedStore,
    KuboStore,
    NotFound,
    TooLarge,
    TooManyBlocks,
    Unavailable,
    compute_cid,
    open_store,
    parse_cid,
)
from mirror_common.ipfs import kubo as kubo_module
from mirror_common.ipfs.cid import DAG_PB, RAW, Cid
from mirror_common.ipfs.reader import MIN_LEAF, block_budget
from mirror_common.ipfs.unixfs import UNIXFS_FILE, Child, build_file, decode_node, encode_file_node
from mirror_common.services import Kubo
from tests.indexer_support import TcpProxy

MiB = CHUNK_SIZE
EDGE_SIZES = [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB]


def deterministic_chunks(size: int, seed: str) -> Iterator[bytes]:
    """Kubo's test data (testutils.DeterministicRandomReaderBytes), one chunk at a time."""
    stream = Cipher(algorithms.ChaCha20(hashlib.sha256(seed.encode()).digest(), bytes(16)), mode=None).encryptor()
    zeros = bytes(CHUNK_SIZE)
    while size > 0:
        n = min(size, CHUNK_SIZE)
        yield stream.update(zeros[:n])
        size -= n


def deterministic_bytes(size: int, seed: str) -> bytes:
    return b"".join(deterministic_chunks(size, seed))


def data_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


@pytest.fixture
def embedded(tmp_path: Path) -> EmbeddedStore:
    return EmbeddedStore(tmp_path / "ipfs")


@pytest.fixture
async def kubo_store(kubo: Kubo) -> AsyncIterator[KuboStore]:
    store = KuboStore(kubo.url, timeout=5)
    yield store
    await store.close()


# --- both backends, the same CIDs ------------------------------------------------------------


@pytest.mark.parametrize("size", EDGE_SIZES, ids=["empty", "1B", "1MiB-1", "1MiB", "1MiB+1", "5MiB"])
async def test_both_backends_give_the_same_cid_and_bytes(size: int, embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    data = data_of(size)
    from_kubo = await kubo_store.put(data)
    from_disk = await embedded.put(data)
    assert from_disk == from_kubo == compute_cid(data)
    # Up to one chunk: a single raw block (bafkrei…); past it, a dag-pb UnixFS root (bafybei…).
    assert parse_cid(from_disk).codec == (RAW if size <= MiB else DAG_PB)
    if size == 0:
        assert from_disk == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"  # sha256 of no bytes
    assert await embedded.get(from_disk, size) == data
    assert await kubo_store.get(from_kubo, size) == data
    assert await embedded.has(from_disk) and await kubo_store.has(from_kubo)


def test_kubo_test_vectors_up_to_two_chunks() -> None:
    assert compute_cid(b"hello world") == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    at_chunk = deterministic_bytes(MiB, "chunk-v1-seed")
    assert compute_cid(at_chunk) == "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"
    over_chunk = deterministic_bytes(MiB + 1, "chunk-v1-seed")
    assert compute_cid(over_chunk) == "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"


def test_files_at_and_over_1024_chunks_match_kubo() -> None:
    """1024 chunks fill one root; the 1025th makes the balanced DAG one level deeper (root of 2 links)."""
    inner: list[bytes] = []

    def keep_inner(cid: Cid, block: bytes) -> None:
        if cid.codec == DAG_PB:
            inner.append(block)

    at_max = build_file(deterministic_chunks(1024 * MiB, "v1-2025-seed"), keep_inner)
    assert str(at_max) == "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm"
    assert len(inner) == 1 and len(decode_node(inner[0]).links) == 1024

    inner.clear()
    over_max = build_file(deterministic_chunks(1024 * MiB + 1, "v1-2025-seed"), keep_inner)
    assert str(over_max) == "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe"
    full, last, root = (decode_node(b) for b in inner)  # children before parents
    assert [len(full.links), len(last.links), len(root.links)] == [1024, 1, 2]
    assert root.filesize == 1024 * MiB + 1 and root.blocksizes == [1024 * MiB, 1]
    assert 1025 + len(inner) <= block_budget(1024 * MiB + 1)  # the reader may fetch all of it


async def test_inner_node_encoding_is_boxos(embedded: EmbeddedStore) -> None:
    """The bytes of a two-leaf root, field by field: links (Hash, empty Name, Tsize) before Data."""
    data = data_of(MiB + 1)
    root = parse_cid(await embedded.put(data))
    block = embedded.block_path(root).read_bytes()
    leaves = [Cid.of_block(RAW, data[:MiB]).to_bytes(), Cid.of_block(RAW, data[MiB:]).to_bytes()]
    link_0 = b"\x0a\x24" + leaves[0] + b"\x12\x00" + b"\x18\x80\x80\x40"  # Tsize 1048576
    link_1 = b"\x0a\x24" + leaves[1] + b"\x12\x00" + b"\x18\x01"
    unixfs = b"\x08\x02" + b"\x18\x81\x80\x40" + b"\x20\x80\x80\x40" + b"\x20\x01"  # File, filesize, blocksizes
    assert block == b"\x12\x2c" + link_0 + b"\x12\x2a" + link_1 + b"\x0a" + bytes([len(unixfs)]) + unixfs
    node = decode_node(block)
    assert (node.filesize, node.blocksizes, node.data) == (MiB + 1, [MiB, 1], b"")
    assert UNIXFS_FILE == 2


async def test_kubo_laying_a_file_out_otherwise_is_refused(kubo_store: KuboStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A node importing with other settings (here 256 KiB chunks) would hand out CIDs the embedded store
    cannot reproduce: put refuses its answer."""
    monkeypatch.setitem(kubo_module.ADD_PARAMS, "chunker", "size-262144")
    with pytest.raises(Corrupt, match="refusing its layout"):
        await kubo_store.put(data_of(MiB + 1, seed=5))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunks=st.integers(min_value=0, max_value=3),
    offset=st.integers(min_value=-2, max_value=2),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_kubo_agrees_around_chunk_edges(kubo: Kubo, chunks: int, offset: int, seed: int) -> None:
    size = max(0, chunks * MiB + offset)
    data = data_of(size, seed)

    async def add() -> str:
        store = KuboStore(kubo.url, timeout=5)
        try:
            cid = await store.put(data)  # put itself refuses a CID other than the computed one
            assert await store.get(cid, size) == data
            return cid
        finally:
            await store.close()

    assert asyncio.run(add()) == compute_cid(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=8192) | st.integers(min_value=MiB - 64, max_value=2 * MiB + 64).map(data_of))
def test_embedded_round_trip(tmp_path: Path, data: bytes) -> None:
    async def round_trip() -> None:
        store = EmbeddedStore(tmp_path / "ipfs")
        cid = await store.put(data)
        assert cid == compute_cid(data)
        assert await store.get(cid, len(data)) == data
        assert await store.put(data) == cid  # a second put finds every block in place

    asyncio.run(round_trip())


# --- reads verify ----------------------------------------------------------------------------


async def test_a_corrupted_block_on_disk_is_refused(embedded: EmbeddedStore) -> None:
    data = data_of(3 * MiB + 5)
    cid = await embedded.put(data)
    leaf = embedded.block_path(Cid.of_block(RAW, data[MiB : 2 * MiB]))
    block = bytearray(leaf.read_bytes())
    block[1000] ^= 1
    leaf.write_bytes(bytes(block))
    with pytest.raises(Corrupt, match="does not hash"):
        await embedded.get(cid, len(data))
    await embedded.put(data)  # put repairs a block that no longer hashes to its CID
    assert await embedded.get(cid, len(data)) == data

    root = embedded.block_path(parse_cid(cid))
    root.write_bytes(root.read_bytes()[:-1])
    with pytest.raises(Corrupt):
        await embedded.get(cid, len(data))
    assert not await embedded.has(cid)


async def test_a_corrupted_block_inside_kubo_is_refused(kubo: Kubo, kubo_store: KuboStore) -> None:
    """Kubo serves what its flatfs holds without checking (HashOnRead is off); the reader checks."""
    data = data_of(2 * MiB + 7, seed=1)
    cid = await kubo_store.put(data)
    leaf = data[MiB : 2 * MiB]
    stored = [p for p in (kubo.ipfs_path / "blocks").rglob("*.data") if p.stat().st_size == MiB and p.read_bytes() == leaf]
    assert len(stored) == 1
    stored[0].write_bytes(leaf[:-1] + bytes([leaf[-1] ^ 0xFF]))
    with pytest.raises(Corrupt, match="does not hash"):
        await kubo_store.get(cid, len(data))


async def test_missing_content_is_not_found(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    absent = str(Cid.of_block(RAW, b"never stored"))
    for store in (embedded, kubo_store):
        with pytest.raises(NotFound):
            await store.get(absent, 100)
        assert not await store.has(absent)

    data = data_of(2 * MiB + 1, seed=2)
    cid = await embedded.put(data)
    embedded.block_path(Cid.of_block(RAW, data[MiB : 2 * MiB])).unlink()
    with pytest.raises(NotFound):
        await embedded.get(cid, len(data))
    assert not await embedded.has(cid)


async def test_an_online_kubo_gives_up_after_its_timeout(tmp_path: Path, kubo: Kubo) -> None:
    """A node that searches the network (no peers here) for a block it lacks ends with NotFound."""
    node = Kubo(ipfs_path=tmp_path / "kubo", binary=kubo.binary, offline=False)
    await asyncio.to_thread(node.start)
    store = KuboStore(node.url, timeout=1)
    try:
        with pytest.raises(NotFound):
            await store.get(str(Cid.of_block(RAW, b"nowhere")), 100)
    finally:
        await store.close()
        await asyncio.to_thread(node.stop)


async def test_max_size_is_enforced_before_the_content_is_read(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    small, large = data_of(MiB - 1, seed=3), data_of(3 * MiB, seed=3)
    for store in (embedded, kubo_store):
        small_cid, large_cid = await store.put(small), await store.put(large)
        assert await store.get(small_cid, len(small)) == small
        assert await store.get(large_cid, len(large)) == large
        with pytest.raises(TooLarge):
            await store.get(small_cid, len(small) - 1)
        with pytest.raises(TooLarge):
            await store.get(large_cid, len(large) - 1)
    # The root's filesize refuses it: the leaves are never looked at (they are gone, yet no NotFound).
    for i in range(3):
        embedded.block_path(Cid.of_block(RAW, large[i * MiB : (i + 1) * MiB])).unlink()
    with pytest.raises(TooLarge):
        await embedded.get(large_cid, MiB)


async def test_a_dag_that_lies_about_its_sizes_is_corrupt(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    """A root declaring smaller leaves than it links: well hashed, but its bytes would exceed what it claims.
    Refused at the first child that disagrees (a root of many such links: at its budget, before any)."""
    leaf = data_of(1000)
    leaf_cid = Cid.of_block(RAW, leaf)
    link = b"\x0a\x24" + leaf_cid.to_bytes() + b"\x12\x00" + b"\x18\xe8\x07"
    unixfs = b"\x08\x02\x18\x0a\x20\x0a"  # filesize 10, blocksizes [10]
    root = b"\x12" + bytes([len(link)]) + link + b"\x0a" + bytes([len(unixfs)]) + unixfs
    for store in (embedded, kubo_store):
        await put_block(store, RAW, leaf)
        root_cid = await put_block(store, DAG_PB, root)
        with pytest.raises(Corrupt, match="declares 10"):
            await store.get(str(root_cid), 10_000)
        wide = await put_block(store, DAG_PB, encode_file_node([Child(leaf_cid, 1000, 10)] * 16))
        await refused_quickly(store, wide, 10_000, Corrupt, "declares 10")
        wider = await put_block(store, DAG_PB, encode_file_node([Child(leaf_cid, 1000, 10)] * 20_000))
        await refused_quickly(store, wider, 200_000, TooManyBlocks, "20001 blocks")
        # A node whose own total is not the sum of its children: refused as it is decoded.
        total_off = b"\x08\x02\x18\x0b\x20\x0a"  # filesize 11, blocksizes [10]
        lying_total = b"\x12" + bytes([len(link)]) + link + b"\x0a" + bytes([len(total_off)]) + total_off
        await refused_quickly(store, await put_block(store, DAG_PB, lying_total), 10_000, Corrupt, "not its data plus")


# --- the work of a read is bounded by its size ----------------------------------------------

QUICKLY_S = 5.0  # a refusal takes one or two fetches; the auditor's 1e5 empty fetches took the embedded store 15 s


async def put_block(store: EmbeddedStore | KuboStore, codec: int, block: bytes) -> Cid:
    """One block as it is, past any importer: a file for the embedded store, ``block/put`` into Kubo."""
    cid = Cid.of_block(codec, block)
    if isinstance(store, EmbeddedStore):
        store._write_block(cid, block)
        return cid
    # Plain aiohttp: aioipfs 0.7.1's block.put hands aiohttp a file object it no longer accepts.
    form = aiohttp.FormData()
    form.add_field("data", block, filename="block")
    params = {"cid-codec": "dag-pb" if codec == DAG_PB else "raw", "pin": "true"}
    async with aiohttp.ClientSession() as session, session.post(f"{store.api_url}/api/v0/block/put", params=params, data=form) as answer:
        assert answer.status == 200, await answer.text()
        assert parse_cid((await answer.json())["Key"]) == cid
    return cid


async def refused_quickly(store: ContentStore, cid: Cid, max_size: int, error: type[Exception], match: str) -> None:
    async with asyncio.timeout(QUICKLY_S):  # a TimeoutError here is not ``error``: the test fails
        with pytest.raises(error, match=match):
            await store.get(str(cid), max_size)


async def test_links_of_zero_bytes_are_refused_before_they_are_fetched(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    """The auditor's DAG: 100 links to a node of 1000 links to the empty block. 0 bytes of output for
    1e5 fetches (a third layer: 1e8); refused at the root, whose links declare 0 bytes."""
    for store in (embedded, kubo_store):
        empty = await put_block(store, RAW, b"")
        inner = await put_block(store, DAG_PB, encode_file_node([Child(empty, 0, 0)] * 1000))
        root = await put_block(store, DAG_PB, encode_file_node([Child(inner, 0, 0)] * 100))
        await refused_quickly(store, root, 10**9, Corrupt, "child of 0 bytes")
        # One empty link among real ones is refused too: it can only add a fetch.
        leaf = await put_block(store, RAW, b"x")
        mixed = await put_block(store, DAG_PB, encode_file_node([Child(leaf, 1, 1), Child(empty, 0, 0)]))
        await refused_quickly(store, mixed, 10**9, Corrupt, "link 1 of 2")
        async with asyncio.timeout(QUICKLY_S):
            assert not await store.has(str(root))


async def test_the_same_tiny_leaf_linked_over_and_over_is_refused_at_the_root(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    """Sizes that add up: 100 links to a node of 1000 links to one 1-byte leaf, a 100 000-byte file
    within its limit, but 100 101 blocks where a file of that size needs at most 20."""
    size = 100_000
    assert block_budget(size) == 2 * 2 + 16
    for store in (embedded, kubo_store):
        leaf = await put_block(store, RAW, b"x")
        inner_block = encode_file_node([Child(leaf, 1, 1)] * 1000)
        inner = await put_block(store, DAG_PB, inner_block)
        root = await put_block(store, DAG_PB, encode_file_node([Child(inner, len(inner_block) + 1000, 1000)] * 100))
        await refused_quickly(store, root, size, TooManyBlocks, f"at most {block_budget(size)}")
        async with asyncio.timeout(QUICKLY_S):  # has visits each distinct block once: three here
            assert await store.has(str(root))


async def test_leaves_smaller_than_min_leaf_are_refused_and_min_leaf_ones_read(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    """Well-formed files of distinct leaves, laid out by our builder and by Kubo's own `add`: leaves of
    MIN_LEAF bytes read (with a short last one), leaves of 8 KiB are more blocks than the size allows."""
    fine, tiny = data_of(40 * MIN_LEAF + 5, seed=6), data_of(100 * 8192, seed=7)
    assert 41 + 1 <= block_budget(len(fine)) and 100 + 1 > block_budget(len(tiny))

    def chunks(data: bytes, size: int) -> list[bytes]:
        return [data[i : i + size] for i in range(0, len(data), size)]

    fine_cid = build_file(chunks(fine, MIN_LEAF), embedded._write_block)
    tiny_cid = build_file(chunks(tiny, 8192), embedded._write_block)
    assert await embedded.get(str(fine_cid), len(fine)) == fine
    await refused_quickly(embedded, tiny_cid, len(tiny), TooManyBlocks, "needs at most")

    client = kubo_store._connect()
    for data, chunker in ((fine, f"size-{MIN_LEAF}"), (tiny, "size-8192")):
        added = await client.core.add_single(multi.multiform_bytes(data), params={**kubo_module.ADD_PARAMS, "chunker": chunker})
        if data is fine:
            assert await kubo_store.get(added["Hash"], len(data)) == data
        else:
            await refused_quickly(kubo_store, parse_cid(added["Hash"]), len(data), TooManyBlocks, "needs at most")


KUBO_IMPORTS = {
    "legacy-cid-v0 profile": {"cid-version": "0", "raw-leaves": "false", "chunker": "size-262144", "max-file-links": "174"},
    "legacy, 3 links per node": {"cid-version": "0", "raw-leaves": "false", "chunker": "size-262144", "max-file-links": "3"},
    "trickle": {"cid-version": "1", "raw-leaves": "true", "chunker": "size-262144", "trickle": "true"},
    "buzhash": {"cid-version": "1", "raw-leaves": "true", "chunker": "buzhash"},
    "rabin": {"cid-version": "1", "raw-leaves": "true", "chunker": "rabin"},
}


@pytest.mark.parametrize("params", KUBO_IMPORTS.values(), ids=KUBO_IMPORTS.keys())
async def test_kubo_imports_under_other_settings_read_within_the_block_budget(kubo_store: KuboStore, params: dict[str, str]) -> None:
    """Files another node imported with its other profile or chunkers (a short last chunk, several levels)
    are not ours to write but still ours to read: the block budget leaves them room."""
    data = data_of(2 * MiB + 3 * 1024 + 7, seed=8)
    added = await kubo_store._connect().core.add_single(multi.multiform_bytes(data), params={"pin": "true", **params})
    assert added["Hash"] != compute_cid(data)
    assert await kubo_store.get(added["Hash"], len(data)) == data


async def test_a_file_of_more_than_1024_chunks_reads(embedded: EmbeddedStore) -> None:
    """1024 MiB + 1 byte: a root over a full node of 1024 leaves and a node of one, as Kubo lays it
    out, read within the block budget. The same chunk 1024 times keeps the store to two leaves on disk."""
    chunk = data_of(MiB, seed=9)
    written: set[Cid] = set()

    def write_once(cid: Cid, block: bytes) -> None:
        if cid not in written:
            written.add(cid)
            embedded._write_block(cid, block)

    root = build_file(iter([chunk] * 1024 + [b"z"]), write_once)
    got = await embedded.get(str(root), 1024 * MiB + 1)
    assert len(got) == 1024 * MiB + 1 and got[-1:] == b"z"
    assert all(got[i * MiB : (i + 1) * MiB] == chunk for i in range(1024))


async def test_a_node_that_never_answers_is_unavailable_by_its_deadline() -> None:
    """A listener that accepts and says nothing (aioipfs itself would wait forever): Unavailable, retryable,
    for a put and for a read alike. A read is not NotFound: a working node ends its own search with an
    answer, and NotFound fails a job's dataset for good."""
    silent = await TcpProxy(0).start()
    silent.stall = True
    store = KuboStore(f"http://127.0.0.1:{silent.port}", timeout=0.5)
    data = data_of(MiB)  # more than the socket buffers take: the send itself stalls
    deadline = store.call_deadline(len(data))
    assert deadline == 0.5 + kubo_module.ROUND_TRIP_SLACK_S + MiB / kubo_module.MIN_TRANSFER_RATE
    try:
        started = time.monotonic()
        async with asyncio.timeout(deadline + 10):
            with pytest.raises(Unavailable, match="did not take"):
                await store.put(data)
        assert deadline - 0.1 <= time.monotonic() - started < deadline + 5
        for read in (store.get(compute_cid(b"anything"), MiB), store.has(compute_cid(b"anything"))):
            started = time.monotonic()
            async with asyncio.timeout(store.call_deadline() + 10):
                with pytest.raises(Unavailable, match="did not answer"):
                    await read
            assert time.monotonic() - started < store.call_deadline() + 5
    finally:
        await store.close()
        await silent.close()


# --- CIDs from outside ------------------------------------------------------------------------


def cid_string(version_codec: bytes, hash_code: int, digest: bytes) -> str:
    import base64

    raw = version_codec + bytes([hash_code, len(digest)]) + digest
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


DIGEST = hashlib.sha256(b"x").digest()
BAD_CIDS = {
    "empty": "",
    "garbage": "not a cid",
    "too long": "b" + "a" * 200,
    "upper case": str(Cid.of_block(RAW, b"x")).upper(),
    "base58btc CIDv1": "z" + base58.b58encode(Cid.of_block(RAW, b"x").to_bytes()).decode(),
    "dag-cbor codec": cid_string(b"\x01\x71", 0x12, DIGEST),
    "sha2-512": cid_string(b"\x01\x55", 0x13, hashlib.sha512(b"x").digest()),
    "identity hash": cid_string(b"\x01\x55", 0x00, b"inline content"),
    "short digest": cid_string(b"\x01\x55", 0x12, DIGEST[:20]),
    "CIDv2": cid_string(b"\x02\x55", 0x12, DIGEST),
    "non-canonical base32": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvykv",  # same bytes as …yku
    "truncated": str(Cid.of_block(RAW, b"x"))[:-4],
    "CIDv0 declaring a 30-byte digest": "Qm" + "1" * 44,  # base58 of 12 1e …
    "CIDv0 not base58": "Qm" + "0" * 44,
}


@pytest.mark.parametrize("text", BAD_CIDS.values(), ids=BAD_CIDS.keys())
async def test_a_bad_cid_is_refused_by_both(text: str, embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    with pytest.raises(BadCid):
        parse_cid(text)
    for store in (embedded, kubo_store):
        with pytest.raises(BadCid):
            await store.get(text, 100)
        with pytest.raises(BadCid):
            await store.has(text)


async def test_a_cidv0_is_read_and_verified(embedded: EmbeddedStore, kubo_store: KuboStore) -> None:
    data = data_of(MiB + 3, seed=4)
    for store in (embedded, kubo_store):
        v1 = parse_cid(await store.put(data))
        v0 = base58.b58encode(bytes([0x12, 0x20]) + v1.digest).decode()
        assert v0.startswith("Qm") and parse_cid(v0) == v1
        assert await store.get(v0, len(data)) == data


async def test_a_directory_is_not_a_file(embedded: EmbeddedStore) -> None:
    empty_dir = b"\x0a\x02\x08\x01"  # dag-pb Data: UnixFS Type=Directory
    cid = Cid.of_block(DAG_PB, empty_dir)
    assert str(cid) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"  # IPFS's well-known empty directory
    embedded._write_block(cid, empty_dir)
    with pytest.raises(BadCid, match="directory"):
        await embedded.get(str(cid), 100)


@given(text=st.text(max_size=80) | st.binary(max_size=60).map(lambda b: cid_string(b[:2], b[2] if len(b) > 2 else 0, b[3:])))
def test_parse_cid_refuses_anything_it_cannot_verify_with_bad_cid(text: str) -> None:
    try:
        cid = parse_cid(text)
    except BadCid:
        return
    assert cid.codec in (RAW, DAG_PB) and len(cid.digest) == 32
    assert str(cid) == text or (text.startswith("Qm") and cid.codec == DAG_PB)  # one string per CIDv1


@given(block=st.binary(max_size=300))
def test_decoding_a_block_from_outside_fails_only_as_content_error(block: bytes) -> None:
    try:
        decode_node(block)
    except (Corrupt, BadCid):
        pass


# --- open_store ------------------------------------------------------------------------------


async def test_open_store_picks_the_backend(tmp_path: Path, kubo: Kubo) -> None:
    embedded_store: ContentStore = open_store(Settings(ipfs_api_url="", mirror_data_dir=tmp_path))
    kubo_backend: ContentStore = open_store(Settings(ipfs_api_url=kubo.url, mirror_data_dir=tmp_path))
    assert isinstance(embedded_store, EmbeddedStore) and embedded_store.root == tmp_path / "ipfs"
    assert isinstance(kubo_backend, KuboStore)
    data = b"one interface"
    assert await embedded_store.put(data) == await kubo_backend.put(data)
    await kubo_backend.close()
    unreachable = KuboStore("http://127.0.0.1:1", timeout=1)
    with pytest.raises(Unavailable):  # a ContentError that says "try again later", not "no such content"
        await unreachable.put(data)
    with pytest.raises(Unavailable):
        await unreachable.get(compute_cid(data), 1024)
    await unreachable.close()
