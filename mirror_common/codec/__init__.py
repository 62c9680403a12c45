"""IDL-driven Borsh codec for the Mirror program (Anchor IDL spec 0.1.0).

Everything is derived from ``idl/mirror.json``: events (``Program data:`` payloads),
accounts, instruction data, account lists and PDAs. Each IDL type is compiled once
into a reader and a writer closure; consecutive fixed-size fields of a struct are
read with a single ``struct.Struct.unpack_from``.

Decoded values are JSON-friendly (they are stored as jsonb):

=====================  ==========================================================
IDL type               Python value
=====================  ==========================================================
bool                   bool
u8..u128, i8..i128     int
f32, f64               float
string                 str
pubkey                 base58 str
bytes, ``[u8; N]``     lowercase hex str
``[T; N]``, vec<T>     list
option<T>              None or the value
defined struct         dict (tuple structs: list)
defined enum           unit variant: its name (``"Public"``); variant with fields:
                       ``{"Name": {...}}`` (named) or ``{"Name": [...]}`` (tuple)
=====================  ==========================================================

Encoding accepts the same forms, and also ``solders`` ``Pubkey`` for pubkeys, bytes-like
values for ``bytes`` / ``[u8; N]`` and lists/tuples for arrays.

Module-level functions use the repository's IDL (:func:`default_codec`); build a
:class:`Codec` for another IDL file or program id.

One job per module:

==============  ================================================================
``errors``      the exceptions (all ``CodecError``)
``layout``      ``Layout``: one compiled IDL type (reader + writer), shared aliases
``decode``      the Borsh reader (bytes -> values), strict about what it accepts
``encode``      the Borsh writer (values -> bytes), with the failing field's path
``idl``         the IDL file, its types compiled into layouts, constants, accounts
``program``     ``Codec``: events, accounts and instructions by name/discriminator
``pda``         the program's PDAs from the IDL's seed constants
``default``     module-level functions over the repository's IDL (cached)
==============  ================================================================
"""

from __future__ import annotations

from .default import (
    account_type,
    build_instruction,
    config_pda,
    decode_account,
    decode_event,
    decode_instruction,
    default_codec,
    encode_account,
    encode_event,
    encode_instruction,
    grant_pda,
    job_pda,
    load_idl,
    mirror_pda,
    model_pda,
    trainer_pda,
)
from .errors import CodecError, DecodeError, EncodeError, IdlError, UnknownDiscriminator
from .idl import default_idl_path
from .layout import DISCRIMINATOR_LEN, BytesLike
from .program import Codec, DecodedAccount, DecodedEvent

__all__ = [
    "DISCRIMINATOR_LEN",
    "BytesLike",
    "Codec",
    "CodecError",
    "DecodeError",
    "DecodedAccount",
    "DecodedEvent",
    "EncodeError",
    "IdlError",
    "UnknownDiscriminator",
    "account_type",
    "build_instruction",
    "config_pda",
    "decode_account",
    "decode_event",
    "decode_instruction",
    "default_codec",
    "default_idl_path",
    "encode_account",
    "encode_event",
    "encode_instruction",
    "grant_pda",
    "job_pda",
    "load_idl",
    "mirror_pda",
    "model_pda",
    "trainer_pda",
]
