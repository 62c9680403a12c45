"""trainer.envelope: what is sealed to a set of X25519 keys opens for each of them and for no one
else, and any other bytes (a truncation, a flipped bit, junk) are refused with an EnvelopeError,
never another exception. The dev trainer's key on chain is the one x25519_keypair_from_solana derives."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.wallet import Wallet
from trainer.envelope import (
    MAGIC,
    MAX_OVERHEAD,
    MAX_RECIPIENTS,
    REASONS,
    EnvelopeError,
    is_envelope,
    open_sealed,
    overhead,
    recipients_of,
    seal,
    x25519_keypair_from_solana,
)


def keypairs(n: int) -> list[tuple[bytes, bytes]]:
    keys = [PrivateKey.generate() for _ in range(n)]
    return [(bytes(k.public_key), bytes(k)) for k in keys]


def refused(envelope: bytes, private: bytes) -> str:
    """The reason open_sealed refuses ``envelope``; fails the test if it opens or raises anything else."""
    try:
        open_sealed(envelope, private)
    except EnvelopeError as e:
        assert e.reason in REASONS
        return e.reason
    raise AssertionError("a damaged envelope opened")


@settings(max_examples=60, deadline=None)
@given(plaintext=st.binary(max_size=2048), n=st.integers(1, MAX_RECIPIENTS), data=st.data())
def test_every_recipient_opens_what_was_sealed(plaintext: bytes, n: int, data: st.DataObject) -> None:
    keys = keypairs(n)
    envelope = seal(plaintext, [pk for pk, _ in keys])
    assert is_envelope(envelope) and len(envelope) == len(plaintext) + overhead(n) <= len(plaintext) + MAX_OVERHEAD
    assert recipients_of(envelope) == [pk for pk, _ in keys]
    for i in {0, n - 1, data.draw(st.integers(0, n - 1))}:
        assert open_sealed(envelope, keys[i][1]) == plaintext
    outsider = keypairs(1)[0][1]
    assert refused(envelope, outsider) == "not_a_recipient"


def test_two_seals_of_the_same_bytes_differ() -> None:
    """A fresh content key and nonce each time: equal datasets do not give equal CIDs."""
    ((pk, sk),) = keypairs(1)
    a, b = seal(b"same", [pk]), seal(b"same", [pk])
    assert a != b and open_sealed(a, sk) == open_sealed(b, sk) == b"same"


def test_every_truncation_and_every_bit_flip_is_refused() -> None:
    """Exhaustive over one envelope with two recipients: a flip in the other recipient's slot is
    caught too, because the body key is derived from the whole header."""
    keys = keypairs(2)
    envelope = seal(b"the owner's dataset", [pk for pk, _ in keys])
    me = keys[1][1]
    for cut in range(len(envelope)):
        reason = refused(envelope[:cut], me)
        assert reason == ("not_an_envelope" if cut < len(MAGIC) else "corrupt"), (cut, reason)
    for i in range(len(envelope)):
        for bit in range(8):
            flipped = bytearray(envelope)
            flipped[i] ^= 1 << bit
            refused(bytes(flipped), me)
    assert refused(envelope + b"\x00", me) == "corrupt"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plaintext=st.binary(max_size=300), n=st.integers(1, 3), where=st.integers(0), bit=st.integers(0, 7), cut=st.integers(0))
def test_random_damage_is_refused(plaintext: bytes, n: int, where: int, bit: int, cut: int) -> None:
    keys = keypairs(n)
    envelope = seal(plaintext, [pk for pk, _ in keys])
    flipped = bytearray(envelope)
    flipped[where % len(envelope)] ^= 1 << bit
    for private in (keys[0][1], keys[-1][1]):
        refused(bytes(flipped), private)
        refused(envelope[: cut % len(envelope)], private)


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=600) | st.binary(max_size=600).map(lambda b: MAGIC + b"\x01" + b))
def test_junk_is_refused(junk: bytes) -> None:
    refused(junk, keypairs(1)[0][1])


def test_reasons() -> None:
    ((pk, sk),) = keypairs(1)
    envelope = seal(b"x" * 100, [pk])
    assert refused(b"plain text, not sealed", sk) == "not_an_envelope"
    assert refused(MAGIC + b"\x02" + envelope[len(MAGIC) + 1 :], sk) == "unsupported_version"
    assert refused(MAGIC + b"\x01\x00" + envelope[len(MAGIC) + 2 :], sk) == "corrupt"  # no recipients
    assert refused(MAGIC + b"\x01\x11" + envelope[len(MAGIC) + 2 :], sk) == "corrupt"  # 17 recipients
    with pytest.raises(EnvelopeError) as e:
        open_sealed(envelope, sk, max_plaintext=99)
    assert e.value.reason == "too_large"
    assert open_sealed(envelope, sk, max_plaintext=100) == b"x" * 100
    # A length field claiming far more than follows is refused before anything is allocated.
    length_at = len(MAGIC) + 2 + 112
    huge = envelope[:length_at] + struct.pack("<Q", 2**64 - 1) + envelope[length_at + 8 :]
    assert refused(huge, sk) == "too_large"
    with pytest.raises(EnvelopeError) as e:
        open_sealed(envelope, sk[:31])
    assert e.value.reason == "bad_key"


def test_seal_refuses_bad_recipient_lists() -> None:
    keys = [pk for pk, _ in keypairs(MAX_RECIPIENTS + 1)]
    with pytest.raises(ValueError):
        seal(b"x", [])
    with pytest.raises(ValueError):
        seal(b"x", keys)
    with pytest.raises(ValueError):
        seal(b"x", [keys[0][:31]])
    with pytest.raises(ValueError, match="not a usable"):
        seal(b"x", [bytes(32)])  # a low-order point: the shared secret would be zero
    # Duplicates are sealed once.
    assert recipients_of(seal(b"x", [keys[0], keys[1], keys[0]])) == keys[:2]


async def test_the_dev_trainers_published_key_is_its_montgomery_form(rpc: AsyncClient, trainer: Keypair) -> None:
    """The Trainer account that localnet's bootstrap registers publishes exactly the X25519 public
    key that x25519_keypair_from_solana derives, so a dataset sealed to it opens for the daemon."""
    public, private = x25519_keypair_from_solana(trainer)
    account = await Wallet(rpc).account(codec.trainer_pda(trainer.pubkey()))
    assert account["active"] is True
    assert bytes.fromhex(account["encryption_key"]) == public
    assert open_sealed(seal(b"dataset", [bytes.fromhex(account["encryption_key"])]), private) == b"dataset"
    # The same keys as PyNaCl's SigningKey conversions (DESIGN.md section 7).
    from nacl.signing import SigningKey

    signing = SigningKey(bytes(trainer)[:32])
    assert public == bytes(signing.verify_key.to_curve25519_public_key())
    assert private == bytes(signing.to_curve25519_private_key())


def test_the_inference_key_comes_from_its_public_key_setting_or_the_dev_keypair(tmp_path: Path) -> None:
    """A trainer needs only the inference service's public key (MIRROR_INFERENCE_PUBKEY); the dev default
    reads the public half of the dev keypair. Both give the key the inference service opens with."""
    from mirror_common.config import Settings
    from trainer.daemon import inference_public_key

    dev = Settings()
    keypair = Keypair.from_bytes(bytes(json.loads(Path(dev.mirror_inference_keypair).read_text())))
    public, private = x25519_keypair_from_solana(keypair)
    assert inference_public_key(dev) == public
    assert inference_public_key(Settings(mirror_inference_pubkey=str(keypair.pubkey()))) == public
    assert (
        open_sealed(seal(b"weights", [inference_public_key(Settings(mirror_inference_pubkey=str(keypair.pubkey())))]), private)
        == b"weights"
    )
    for bad in ("not base58 0OIl", "1" * 50, str(Pubkey(bytes(32)))):
        with pytest.raises(ValueError, match="MIRROR_INFERENCE_PUBKEY"):
            inference_public_key(Settings(mirror_inference_pubkey=bad))
    # And the daemon refuses to start on one, saying so, instead of sealing models to nobody.
    env = {**os.environ, "MIRROR_INFERENCE_PUBKEY": "1" * 50, "MIRROR_DATA_DIR": str(tmp_path), "TRAINER_METRICS_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "trainer", "--max-jobs", "0"], env=env, capture_output=True, text=True, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode == 2 and "trainer_keys_unusable" in out and "MIRROR_INFERENCE_PUBKEY" in out, out
