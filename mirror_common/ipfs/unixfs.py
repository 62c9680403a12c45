"""UnixFS files as Kubo 0.42 imports them under its ``unixfs-v1-2025`` profile, byte for byte.

The profile (kubo config/profile.go; IPIP-499): CIDv1, raw leaves, sha2-256, fixed-size chunks of
1 MiB (``size-1048576``), a balanced DAG with at most 1024 links per node. The layout is a port of
boxo's ``importer/balanced`` (v0.40.0, which Kubo 0.42 uses):

- no bytes: one raw block of zero bytes; one chunk or less: that chunk as a single raw block;
- more: the first leaf becomes the root; while chunks remain, a new root is made with the old one as
  its first link and filled, depth first, with full subtrees of the old root's depth, up to 1024 links.
  Every leaf sits at the same depth.

An inner node is dag-pb (``encode_file_node``): its links (field 2) before its Data (field 1), each
link Hash, Name ``""`` (present, empty) and Tsize (the child's block plus everything under it); the
Data is the UnixFS protobuf ``Type=File(2)``, ``filesize`` and one ``blocksizes`` entry per link
(unpacked, proto2), no inline data. ``decode_node`` reads dag-pb and UnixFS strictly enough that a
block from outside cannot make the reader misbehave; it accepts any UnixFS file (CIDv0, dag-pb
leaves with inline data), not only our own layout, but refuses a link declaring 0 bytes, which no
importer writes and which would let a DAG cost fetches without bringing bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from mirror_common.ipfs.cid import DAG_PB, RAW, Cid, cid_from_bytes, decode_varint, encode_varint
from mirror_common.ipfs.errors import BadCid, Corrupt

CHUNK_SIZE = 1 << 20  # bytes per leaf (Import.UnixFSChunker = size-1048576)
MAX_LINKS = 1024  # links per inner node (Import.UnixFSFileMaxLinks)

# UnixFS Data.Type values (boxo ipld/unixfs/pb/unixfs.proto)
UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2
UNIXFS_METADATA = 3
UNIXFS_SYMLINK = 4
UNIXFS_HAMT_SHARD = 5
UNIXFS_TYPE_NAMES = {0: "raw", 1: "directory", 2: "file", 3: "metadata", 4: "symlink", 5: "HAMT shard"}

EmitBlock = Callable[[Cid, bytes], None]


def _key(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def _bytes_field(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + encode_varint(len(payload)) + payload


def _varint_field(field: int, value: int) -> bytes:
    return _key(field, 0) + encode_varint(value)


@dataclass(frozen=True, slots=True)
class Child:
    """A built subtree as its parent links it: CID, Tsize (cumulative block bytes), file bytes under it."""

    cid: Cid
    tsize: int
    filesize: int


def encode_file_node(children: list[Child]) -> bytes:
    """A UnixFS File inner node in dag-pb, encoded as boxo encodes it (see the module docstring)."""
    unixfs = _varint_field(1, UNIXFS_FILE) + _varint_field(3, sum(c.filesize for c in children))
    unixfs += b"".join(_varint_field(4, c.filesize) for c in children)
    links = b"".join(
        _bytes_field(2, _bytes_field(1, c.cid.to_bytes()) + _bytes_field(2, b"") + _varint_field(3, c.tsize)) for c in children
    )
    return links + _bytes_field(1, unixfs)


def chunks_of(data: bytes | memoryview) -> Iterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK_SIZE):
        yield view[start : start + CHUNK_SIZE]


class _Peekable:
    def __init__(self, chunks: Iterable[bytes | memoryview]) -> None:
        self._it = iter(chunks)
        self._next: bytes | memoryview | None = None
        self._advance()

    def _advance(self) -> None:
        # A zero-length chunk is what boxo's splitter never yields (it ends at EOF), so skip any.
        for chunk in self._it:
            if len(chunk):
                if len(chunk) > CHUNK_SIZE:
                    raise ValueError(f"chunk of {len(chunk)} bytes (at most {CHUNK_SIZE})")
                self._next = chunk
                return
        self._next = None

    def done(self) -> bool:
        return self._next is None

    def take(self) -> bytes | memoryview:
        chunk = self._next
        assert chunk is not None
        self._advance()
        return chunk


def build_file(chunks: Iterable[bytes | memoryview], emit: EmitBlock) -> Cid:
    """Lays ``chunks`` (each at most CHUNK_SIZE bytes; all but the last exactly CHUNK_SIZE for Kubo's
    CID) out as boxo's balanced builder does; ``emit`` gets every block, children before parents.
    Returns the root CID."""
    source = _Peekable(chunks)

    def leaf() -> Child:
        block = bytes(source.take())
        cid = Cid.of_block(RAW, block)
        emit(cid, block)
        return Child(cid, len(block), len(block))

    def commit(children: list[Child]) -> Child:
        block = encode_file_node(children)
        cid = Cid.of_block(DAG_PB, block)
        emit(cid, block)
        return Child(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children))

    def fill(first: Child | None, depth: int) -> Child:
        children = [first] if first else []
        while len(children) < MAX_LINKS and not source.done():
            children.append(leaf() if depth == 1 else fill(None, depth - 1))
        return commit(children)

    if source.done():
        empty = b""
        cid = Cid.of_block(RAW, empty)
        emit(cid, empty)
        return cid
    root = leaf()
    depth = 1
    while not source.done():
        root = fill(root, depth)
        depth += 1
    return root.cid


def compute_cid(data: bytes | memoryview) -> str:
    """The CID Kubo's ``unixfs-v1-2025`` import gives ``data``, without storing anything."""
    return str(build_file(chunks_of(data), lambda _cid, _block: None))


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    cid: Cid
    tsize: int | None


@dataclass(frozen=True, slots=True)
class FileNode:
    """A dag-pb UnixFS File (or Raw) node: its inline data, then its children's bytes in order."""

    data: bytes
    links: list[Link]
    filesize: int | None
    blocksizes: list[int]

    @property
    def declared_size(self) -> int:
        return self.filesize if self.filesize is not None else len(self.data) + sum(self.blocksizes)


def _fields(buf: bytes, what: str) -> Iterator[tuple[int, int, int | bytes]]:
    """(field, wire type, value) for each protobuf field; only varint and length-delimited wire types."""
    pos = 0
    try:
        while pos < len(buf):
            key, pos = decode_varint(buf, pos)
            field, wire_type = key >> 3, key & 7
            if field == 0:
                raise ValueError("field number 0")
            if wire_type == 0:
                value, pos = decode_varint(buf, pos)
                yield field, wire_type, value
            elif wire_type == 2:
                length, pos = decode_varint(buf, pos)
                if length > len(buf) - pos:
                    raise ValueError("length past the end")
                yield field, wire_type, buf[pos : pos + length]
                pos += length
            else:
                raise ValueError(f"wire type {wire_type}")
    except ValueError as e:
        raise Corrupt(f"{what} does not decode: {e}") from None


def _decode_link(buf: bytes) -> Link:
    cid: Cid | None = None
    tsize: int | None = None
    last = 0
    for field, wire_type, value in _fields(buf, "dag-pb link"):
        if field <= last:
            raise Corrupt("dag-pb link fields out of order or repeated")
        last = field
        if field == 1 and isinstance(value, bytes):
            try:
                cid = cid_from_bytes(value)
            except BadCid as e:
                raise Corrupt(f"dag-pb link to a CID we cannot verify: {e}") from None
        elif field == 2 and wire_type == 2:
            pass  # Name: file nodes' links carry "" and nothing reads it
        elif field == 3 and isinstance(value, int):
            tsize = value
        else:
            raise Corrupt(f"dag-pb link field {field} (wire type {wire_type})")
    if cid is None:
        raise Corrupt("dag-pb link without a Hash")
    return Link(cid, tsize)


def decode_node(block: bytes) -> FileNode:
    """A dag-pb block as a UnixFS file node. Raises ``Corrupt`` when it does not decode and ``BadCid``
    when it is well formed but not a file (a directory, a symlink, …)."""
    links: list[Link] = []
    unixfs: bytes | None = None
    for field, wire_type, value in _fields(block, "dag-pb node"):
        if field == 2 and isinstance(value, bytes):
            if unixfs is not None:
                raise Corrupt("dag-pb link after Data")
            links.append(_decode_link(value))
        elif field == 1 and isinstance(value, bytes):
            if unixfs is not None:
                raise Corrupt("dag-pb Data twice")
            unixfs = value
        else:
            raise Corrupt(f"dag-pb field {field} (wire type {wire_type})")
    if unixfs is None:
        raise Corrupt("dag-pb node without UnixFS Data")
    kind: int | None = None
    data = b""
    filesize: int | None = None
    blocksizes: list[int] = []
    for field, wire_type, value in _fields(unixfs, "UnixFS Data"):
        if field == 1 and isinstance(value, int):
            kind = value
        elif field == 2 and isinstance(value, bytes):
            data = value
        elif field == 3 and isinstance(value, int):
            filesize = value
        elif field == 4 and isinstance(value, int):
            blocksizes.append(value)
        elif field == 4 and isinstance(value, bytes):  # a packed encoding, which proto2 readers accept
            pos = 0
            try:
                while pos < len(value):
                    size, pos = decode_varint(value, pos)
                    blocksizes.append(size)
            except ValueError as e:
                raise Corrupt(f"UnixFS blocksizes do not decode: {e}") from None
        elif field in (5, 6, 7, 8):
            pass  # hashType, fanout (directories), mode, mtime: no bearing on the bytes
        else:
            raise Corrupt(f"UnixFS Data field {field} (wire type {wire_type})")
    if kind is None:
        raise Corrupt("UnixFS Data without a Type")
    if kind not in (UNIXFS_FILE, UNIXFS_RAW):
        raise BadCid(f"the CID names a UnixFS {UNIXFS_TYPE_NAMES.get(kind, f'type {kind}')}, not a file")
    if len(blocksizes) != len(links):
        raise Corrupt(f"UnixFS node with {len(links)} links but {len(blocksizes)} blocksizes")
    if 0 in blocksizes:
        # No importer links an empty child (an empty file is one block); such links only add fetches.
        raise Corrupt(f"UnixFS node links a child of 0 bytes (link {blocksizes.index(0)} of {len(links)})")
    if filesize is not None and filesize != len(data) + sum(blocksizes):
        raise Corrupt(f"UnixFS filesize {filesize} is not its data plus blocksizes ({len(data) + sum(blocksizes)})")
    return FileNode(data, links, filesize, blocksizes)
