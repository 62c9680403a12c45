"""The Mirror program's PDAs, derived from the seeds the IDL declares as constants.

Seeds come from the IDL's ``*_SEED`` byte constants, never from literals here, so an address
derived in Python is the one the program checks. Integer seeds are range-checked and written
little-endian at the program's width (u64 ids, u32 versions); pubkey seeds accept a base58 str,
a ``Pubkey`` or 32 raw bytes. A missing seed constant raises ``IdlError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from .encode import check_int, pubkey_bytes
from .errors import EncodeError, IdlError


def seed_bytes(value: object, what: str) -> bytes:
    """A pubkey seed (base58 str, Pubkey or raw bytes); anything else is an ``EncodeError``."""
    if isinstance(value, Pubkey):
        return bytes(value)
    if isinstance(value, str):
        return pubkey_bytes(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise EncodeError(f"{what}: expected a pubkey, got {type(value).__name__}")


class ProgramAddresses:
    """PDA derivation for a program; ``Codec`` supplies ``program_id`` and the IDL ``constants``."""

    program_id: Pubkey
    constants: Mapping[str, Any]

    def find_pda(self, *seeds: bytes) -> tuple[Pubkey, int]:
        """(address, bump) of a program-derived address of this program."""
        return Pubkey.find_program_address(list(seeds), self.program_id)

    def _seed(self, name: str) -> bytes:
        seed = self.constants.get(name)
        if not isinstance(seed, bytes):
            raise IdlError(f"IDL has no bytes constant {name}")
        return seed

    def config_pda(self) -> Pubkey:
        """``["config"]``"""
        return self.find_pda(self._seed("CONFIG_SEED"))[0]

    def trainer_pda(self, authority: Pubkey | str) -> Pubkey:
        """``["trainer", authority]``"""
        return self.find_pda(self._seed("TRAINER_SEED"), seed_bytes(authority, "authority"))[0]

    def mirror_pda(self, creator: Pubkey | str, mirror_id: int) -> Pubkey:
        """``["mirror", creator, mirror_id u64 le]``"""
        mid = check_int(mirror_id, "u64", 0, 2**64 - 1).to_bytes(8, "little")
        return self.find_pda(self._seed("MIRROR_SEED"), seed_bytes(creator, "creator"), mid)[0]

    def grant_pda(self, mirror: Pubkey | str, grantee: Pubkey | str) -> Pubkey:
        """``["grant", mirror, grantee]``"""
        return self.find_pda(self._seed("GRANT_SEED"), seed_bytes(mirror, "mirror"), seed_bytes(grantee, "grantee"))[0]

    def job_pda(self, mirror: Pubkey | str, job_id: int) -> Pubkey:
        """``["job", mirror, job_id u64 le]``"""
        jid = check_int(job_id, "u64", 0, 2**64 - 1).to_bytes(8, "little")
        return self.find_pda(self._seed("JOB_SEED"), seed_bytes(mirror, "mirror"), jid)[0]

    def model_pda(self, mirror: Pubkey | str, version: int) -> Pubkey:
        """``["model", mirror, version u32 le]``"""
        ver = check_int(version, "u32", 0, 2**32 - 1).to_bytes(4, "little")
        return self.find_pda(self._seed("MODEL_SEED"), seed_bytes(mirror, "mirror"), ver)[0]
