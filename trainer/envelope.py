"""End-to-end encryption of datasets and model artifacts: a sealed envelope.

A random 32-byte content key encrypts the payload once (PyNaCl ``SecretBox``: XSalsa20-Poly1305),
and the content key is sealed (X25519 ``SealedBox``) to each recipient's public key, so any one of
up to 16 recipients can open it with its own private key and nobody else can. Format, version 1
(integers little-endian)::

    offset  size          field
    0       7             MAGIC  b"\\x93MIRENV"  (0x93 is never the first byte of UTF-8 text)
    7       1             version = 1
    8       1             recipient count n, 1..16
    9       112 * n       n slots: recipient X25519 public key (32) | SealedBox(content key) (80)
    9+112n  8             body length L = 40 + plaintext length
    17+112n L             body: nonce (24) | Poly1305 MAC (16) | ciphertext

The body is encrypted under ``blake2b(header, key=content key)``, where the header is every byte
before the body: a change to any byte of the header (another recipient's slot included) changes
that key, so the MAC refuses the body. With the MAC over the body, every bit of an envelope is
covered: a reader either gets the exact plaintext that was sealed or an ``EnvelopeError``.

Reading checks every length before it is used (magic, version, count in 1..16, slots present,
body length equal to what is left and within ``max_plaintext``), and every failure is an
``EnvelopeError`` whose ``reason`` is one of ``REASONS``; nothing else leaves ``open_sealed`` for
any input bytes (tests/test_trainer_envelope.py fuzzes truncations and bit flips).

The envelope says who may read it, not who wrote it (SealedBox senders are anonymous): the
trainer trusts a dataset because the chain names its CID in a job, not because of the envelope.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import nacl.bindings
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from solders.keypair import Keypair

MAGIC = b"\x93MIRENV"
VERSION = 1
MAX_RECIPIENTS = 16
KEY_BYTES = 32
SEALED_KEY_BYTES = KEY_BYTES + 48  # SealedBox: ephemeral public key (32) + MAC (16) + the content key
SLOT_BYTES = KEY_BYTES + SEALED_KEY_BYTES
BODY_OVERHEAD = SecretBox.NONCE_SIZE + SecretBox.MACBYTES
MAX_PLAINTEXT = 1 << 40  # a hard bound on the length field, whatever the caller allows
_LENGTH = struct.Struct("<Q")
_PERSON = b"mirror-envelope1"  # blake2b personalisation: this key derivation and no other

REASONS = ("not_an_envelope", "unsupported_version", "corrupt", "too_large", "not_a_recipient", "bad_key")


def overhead(recipients: int) -> int:
    """Bytes an envelope adds to its plaintext for this many recipients."""
    return len(MAGIC) + 2 + SLOT_BYTES * recipients + _LENGTH.size + BODY_OVERHEAD


MAX_OVERHEAD = overhead(MAX_RECIPIENTS)


class EnvelopeError(Exception):
    """An envelope that cannot be opened; ``reason`` is one of ``REASONS`` (for logs and fail codes)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def seal(plaintext: bytes, recipients: Sequence[bytes]) -> bytes:
    """An envelope of ``plaintext`` that each of ``recipients`` (32-byte X25519 public keys, 1..16,
    duplicates dropped) can open. ``ValueError`` for a key that is not a usable X25519 key."""
    keys = list(dict.fromkeys(bytes(r) for r in recipients))
    if not 1 <= len(keys) <= MAX_RECIPIENTS:
        raise ValueError(f"an envelope needs 1..{MAX_RECIPIENTS} recipients, got {len(keys)}")
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValueError(f"plaintext of {len(plaintext)} bytes is over {MAX_PLAINTEXT}")
    content_key = nacl.utils.random(KEY_BYTES)
    header = bytearray(MAGIC)
    header += bytes([VERSION, len(keys)])
    for key in keys:
        if len(key) != KEY_BYTES:
            raise ValueError(f"an X25519 public key is {KEY_BYTES} bytes, got {len(key)}")
        try:
            sealed = SealedBox(PublicKey(key)).encrypt(content_key)
        except nacl.exceptions.CryptoError as e:  # a low-order point: no shared secret with it
            raise ValueError(f"recipient {key.hex()} is not a usable X25519 key") from e
        header += key + sealed
    header += _LENGTH.pack(BODY_OVERHEAD + len(plaintext))
    box = SecretBox(_body_key(content_key, bytes(header)))
    return bytes(header) + bytes(box.encrypt(plaintext))


def open_sealed(envelope: bytes, private_key: bytes, *, max_plaintext: int = MAX_PLAINTEXT) -> bytes:
    """The plaintext of ``envelope`` for the holder of ``private_key`` (32-byte X25519), or ``EnvelopeError``."""
    if len(private_key) != KEY_BYTES:
        raise EnvelopeError("bad_key", f"an X25519 private key is {KEY_BYTES} bytes, got {len(private_key)}")
    header_len, slots, body_len = _parse(envelope, max_plaintext)
    me = nacl.bindings.crypto_scalarmult_base(bytes(private_key))
    sealed = next((s for pk, s in slots if pk == me), None)
    if sealed is None:
        raise EnvelopeError("not_a_recipient", f"sealed to {len(slots)} other key(s)")
    try:
        content_key = SealedBox(PrivateKey(bytes(private_key))).decrypt(sealed)
    except nacl.exceptions.CryptoError as e:
        raise EnvelopeError("corrupt", "the sealed content key does not open") from e
    if len(content_key) != KEY_BYTES:
        raise EnvelopeError("corrupt", "the content key is not 32 bytes")
    box = SecretBox(_body_key(content_key, bytes(envelope[:header_len])))
    try:
        return bytes(box.decrypt(bytes(envelope[header_len : header_len + body_len])))
    except nacl.exceptions.CryptoError as e:
        raise EnvelopeError("corrupt", "the body fails its MAC") from e


def recipients_of(envelope: bytes) -> list[bytes]:
    """The public keys an envelope is sealed to (from its header; nothing is decrypted or authenticated)."""
    return [pk for pk, _ in _parse(envelope, MAX_PLAINTEXT)[1]]


def is_envelope(data: bytes) -> bool:
    """Whether ``data`` starts like an envelope (its magic): for telling sealed from plain blobs."""
    return data[: len(MAGIC)] == MAGIC


def x25519_keypair_from_solana(keypair: Keypair) -> tuple[bytes, bytes]:
    """(public, private) X25519 keys of a Solana (ed25519) keypair: the Montgomery form of its
    public key and the clamped SHA-512 of its seed, as libsodium converts them. The chain
    publishes the public one for the dev trainer (localnet/src/bootstrap.rs)."""
    secret = bytes(keypair)  # seed (32) + ed25519 public key (32), libsodium's layout (solders checks they agree)
    private = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(secret)
    return x25519_public_from_solana(bytes(keypair.pubkey())), private


def x25519_public_from_solana(pubkey: bytes) -> bytes:
    """The X25519 public key of a Solana (ed25519) public key, as ``x25519_keypair_from_solana`` gives it;
    ``ValueError`` for 32 bytes that are not a usable ed25519 point."""
    if len(pubkey) != KEY_BYTES:
        raise ValueError(f"a Solana public key is {KEY_BYTES} bytes, got {len(pubkey)}")
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(pubkey)))
    except nacl.exceptions.CryptoError as e:
        raise ValueError("not an ed25519 public key (it has no X25519 form)") from e


def _body_key(content_key: bytes, header: bytes) -> bytes:
    return nacl.hash.blake2b(header, digest_size=KEY_BYTES, key=content_key, person=_PERSON, encoder=nacl.encoding.RawEncoder)


def _parse(envelope: bytes, max_plaintext: int) -> tuple[int, list[tuple[bytes, bytes]], int]:
    """(header length, [(public key, sealed key)], body length), every bound checked."""
    data = memoryview(envelope)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise EnvelopeError("not_an_envelope", "no envelope magic")
    at = len(MAGIC)
    if len(data) < at + 2:
        raise EnvelopeError("corrupt", "truncated before the recipient count")
    version, count = data[at], data[at + 1]
    if version != VERSION:
        raise EnvelopeError("unsupported_version", f"version {version}, this reader knows {VERSION}")
    if not 1 <= count <= MAX_RECIPIENTS:
        raise EnvelopeError("corrupt", f"{count} recipients, expected 1..{MAX_RECIPIENTS}")
    at += 2
    header_len = at + SLOT_BYTES * count + _LENGTH.size
    if len(data) < header_len:
        raise EnvelopeError("corrupt", f"truncated inside the header ({len(data)} of {header_len} bytes)")
    slots = []
    for _ in range(count):
        slots.append((bytes(data[at : at + KEY_BYTES]), bytes(data[at + KEY_BYTES : at + SLOT_BYTES])))
        at += SLOT_BYTES
    (body_len,) = _LENGTH.unpack_from(data, at)
    if body_len < BODY_OVERHEAD:
        raise EnvelopeError("corrupt", f"body of {body_len} bytes is shorter than nonce and MAC")
    if body_len - BODY_OVERHEAD > min(max_plaintext, MAX_PLAINTEXT):
        raise EnvelopeError("too_large", f"plaintext of {body_len - BODY_OVERHEAD} bytes is over {min(max_plaintext, MAX_PLAINTEXT)}")
    if len(data) - header_len != body_len:
        raise EnvelopeError("corrupt", f"body length field says {body_len} bytes, {len(data) - header_len} follow")
    return header_len, slots, body_len
