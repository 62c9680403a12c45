"""CIDs as the stores accept them: sha2-256 multihashes under the raw or dag-pb codec.

``parse_cid`` is the one gate for a CID string from outside: it accepts CIDv1 in canonical base32
(``b…``) and CIDv0 (``Qm…``, always dag-pb and sha2-256), and refuses everything it could not verify
against the bytes it names (other hash functions, identity hashes that carry their content inline,
other codecs, other multibases, non-canonical encodings) with ``BadCid``. The stores key and return
every CID in its canonical form, ``str(Cid)``: CIDv1, base32, lower case.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import base58

from mirror_common.ipfs.errors import BadCid

RAW = 0x55  # multicodec: raw bytes, a UnixFS leaf under raw-leaves
DAG_PB = 0x70  # multicodec: a dag-pb (UnixFS) node
SHA2_256 = 0x12  # multihash function code
IDENTITY = 0x00  # multihash "identity": the digest is the content itself
DIGEST_LEN = 32
MAX_CID_STRING = 128  # a CIDv1 sha2-256 in base32 is 59 characters; anything much longer is junk

CODEC_NAMES = {RAW: "raw", DAG_PB: "dag-pb"}


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it. Refuses truncated, over-long (> 9 bytes, past
    2**63) and non-minimal encodings, which the multiformats spec forbids. Raises ``ValueError``."""
    value = 0
    for i in range(9):
        if pos + i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise ValueError("non-minimal varint")
            return value, pos + i + 1
    raise ValueError("varint longer than 9 bytes")


@dataclass(frozen=True, slots=True)
class Cid:
    """A CIDv1 over a sha2-256 digest. A CIDv0 is held as its CIDv1 equivalent (dag-pb, same digest)."""

    codec: int
    digest: bytes

    @staticmethod
    def of_block(codec: int, block: bytes | memoryview) -> Cid:
        return Cid(codec, hashlib.sha256(block).digest())

    def to_bytes(self) -> bytes:
        return b"\x01" + encode_varint(self.codec) + bytes((SHA2_256, DIGEST_LEN)) + self.digest

    def __str__(self) -> str:
        return "b" + base64.b32encode(self.to_bytes()).decode("ascii").lower().rstrip("=")

    def matches(self, block: bytes | memoryview) -> bool:
        return hashlib.sha256(block).digest() == self.digest


def cid_from_bytes(raw: bytes) -> Cid:
    """A binary CID (as in a dag-pb link). Raises ``BadCid``."""
    if len(raw) == 34 and raw[0] == SHA2_256 and raw[1] == DIGEST_LEN:  # CIDv0: a bare multihash
        return Cid(DAG_PB, bytes(raw[2:]))
    try:
        version, pos = decode_varint(raw, 0)
        if version != 1:
            raise BadCid(f"CID version {version} (only 1, and 0 as 'Qm…')")
        codec, pos = decode_varint(raw, pos)
        if codec not in CODEC_NAMES:
            raise BadCid(f"codec 0x{codec:x} (only raw 0x55 and dag-pb 0x70 name UnixFS content)")
        hash_fn, pos = decode_varint(raw, pos)
        if hash_fn == IDENTITY:
            raise BadCid("identity multihash: the content is inline, not addressed by a hash")
        if hash_fn != SHA2_256:
            raise BadCid(f"multihash function 0x{hash_fn:x} (only sha2-256)")
        length, pos = decode_varint(raw, pos)
    except ValueError as e:
        raise BadCid(f"malformed CID: {e}") from None
    if length != DIGEST_LEN or len(raw) - pos != DIGEST_LEN:
        raise BadCid(f"sha2-256 digest of {len(raw) - pos} bytes (declared {length}, expected {DIGEST_LEN})")
    return Cid(codec, bytes(raw[pos:]))


def parse_cid(text: str) -> Cid:
    """A CID string from outside. Raises ``BadCid`` with the reason."""
    if not isinstance(text, str) or not text:
        raise BadCid("empty CID")
    if len(text) > MAX_CID_STRING:
        raise BadCid(f"CID string of {len(text)} characters")
    if not text.isascii():
        raise BadCid("CID string is not ASCII")
    if text.startswith("Qm"):
        if len(text) != 46:
            raise BadCid("CIDv0 must be 46 base58btc characters")
        try:
            raw = base58.b58decode(text)
        except ValueError as e:
            raise BadCid(f"CIDv0 is not base58btc: {e}") from None
        if len(raw) != 34 or raw[:2] != bytes((SHA2_256, DIGEST_LEN)):
            raise BadCid("CIDv0 is not a sha2-256 multihash")
        return Cid(DAG_PB, raw[2:])
    if text[0] != "b":
        raise BadCid(f"multibase {text[0]!r}: only base32 ('b…', CIDv1) and CIDv0 ('Qm…')")
    body = text[1:]
    if not body or body != body.lower():
        raise BadCid("base32 CID must be lower case")
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except ValueError as e:
        raise BadCid(f"CID is not base32: {e}") from None
    cid = cid_from_bytes(raw)
    if str(cid) != text:  # e.g. stray trailing bits: one CID, one string
        raise BadCid("non-canonical base32 encoding")
    return cid
