"""The repository's IDL as module-level functions: ``codec.decode_event(data)`` without building a ``Codec``.

Every function here delegates to :func:`default_codec`, which is built once per process from
:func:`default_idl_path` (``$MIRROR_IDL_PATH`` or ``idl/mirror.json``) and cached, so the IDL is
read and compiled on first use only. Build a :class:`Codec` for another IDL file or program id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from .layout import BytesLike
from .program import Codec, DecodedAccount, DecodedEvent


@lru_cache(maxsize=8)
def load_idl(path: str | None = None, program_id: str | None = None) -> Codec:
    """A cached :class:`Codec` for an IDL file (default: the repository's)."""
    return Codec.from_path(path, program_id)


def default_codec() -> Codec:
    """The codec of the repository's IDL (cached)."""
    return load_idl(None, None)


def decode_event(data: BytesLike) -> DecodedEvent:
    return default_codec().decode_event(data)


def encode_event(name: str, fields: Mapping[str, Any]) -> bytes:
    return default_codec().encode_event(name, fields)


def decode_account(data: BytesLike, name: str | None = None) -> DecodedAccount:
    return default_codec().decode_account(data, name)


def encode_account(name: str, fields: Mapping[str, Any], *, size: int | None = None) -> bytes:
    return default_codec().encode_account(name, fields, size=size)


def account_type(data: BytesLike) -> str | None:
    return default_codec().account_type(data)


def encode_instruction(name: str, args: Mapping[str, Any]) -> bytes:
    return default_codec().encode_instruction(name, args)


def decode_instruction(data: BytesLike) -> tuple[str, dict[str, Any]]:
    return default_codec().decode_instruction(data)


def build_instruction(
    name: str,
    args: Mapping[str, Any],
    accounts: Mapping[str, Pubkey | str],
    *,
    remaining_accounts: Sequence[AccountMeta] = (),
) -> Instruction:
    return default_codec().build_instruction(name, args, accounts, remaining_accounts=remaining_accounts)


def config_pda() -> Pubkey:
    return default_codec().config_pda()


def trainer_pda(authority: Pubkey | str) -> Pubkey:
    return default_codec().trainer_pda(authority)


def mirror_pda(creator: Pubkey | str, mirror_id: int) -> Pubkey:
    return default_codec().mirror_pda(creator, mirror_id)


def grant_pda(mirror: Pubkey | str, grantee: Pubkey | str) -> Pubkey:
    return default_codec().grant_pda(mirror, grantee)


def job_pda(mirror: Pubkey | str, job_id: int) -> Pubkey:
    return default_codec().job_pda(mirror, job_id)


def model_pda(mirror: Pubkey | str, version: int) -> Pubkey:
    return default_codec().model_pda(mirror, version)
