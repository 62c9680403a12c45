"""The compiled form of one IDL type: a ``Layout`` pairs its Borsh reader with its writer.

A reader takes ``(data, offset)`` and returns ``(value, next offset)``; a writer appends a value's
encoding to a ``bytearray``. Fixed-size types also carry their ``struct`` format and the conversion
of the unpacked value, so a struct can read a run of them with one ``unpack_from``. ``min_size``
bounds how many elements a length prefix may claim before any are read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DISCRIMINATOR_LEN = 8
# Borsh lengths (string, bytes, vec) and COption tags are u32; Option tags and enum variants are u8.
U32 = struct.Struct("<I")
U8 = struct.Struct("<B")

BytesLike = bytes | bytearray | memoryview
Reader = Callable[[bytes, int], tuple[Any, int]]
Writer = Callable[[Any, bytearray], None]
# Turns what ``struct.unpack_from`` returned for a fixed-size field into the decoded value.
Conv = Callable[[Any], Any]


@dataclass(slots=True)
class Layout:
    """A compiled IDL type. ``fmt``/``conv`` are set for fixed-size types that a struct
    may merge into one ``unpack_from``."""

    read: Reader
    write: Writer
    min_size: int
    fmt: str | None = None
    conv: Conv | None = None
