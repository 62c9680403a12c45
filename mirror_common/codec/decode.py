"""The Borsh reader: bytes to JSON-friendly values, one reader closure per IDL type.

Readers trust nothing in the input. A length prefix that claims more elements than the bytes
left could hold is refused before anything is allocated; a bad bool byte, option tag or enum
variant, NaN and invalid UTF-8 are refused. Reading past the end raises ``struct.error`` or
``IndexError`` inside a reader; ``decode_prefix`` turns those into ``DecodeError`` naming the item,
so a caller only ever sees ``DecodeError``. ``decode_all`` also refuses trailing bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

from solders.pubkey import Pubkey

from .errors import DecodeError
from .layout import DISCRIMINATOR_LEN, U32, Conv, Layout, Reader


def fixed_reader(fmt: str, conv: Conv | None) -> Reader:
    """Reads one fixed-size value with ``struct`` format ``fmt`` (little-endian), then ``conv``."""
    s = struct.Struct("<" + fmt)
    unpack_from, size = s.unpack_from, s.size
    if conv is None:

        def read(data: bytes, off: int) -> tuple[Any, int]:
            return unpack_from(data, off)[0], off + size

    else:

        def read(data: bytes, off: int) -> tuple[Any, int]:
            return conv(unpack_from(data, off)[0]), off + size

    return read


# --- conversions of fixed-size values (a struct applies them after a merged unpack) ---


def int128_conv(signed: bool) -> Callable[[bytes], int]:
    def conv(raw: bytes) -> int:
        return int.from_bytes(raw, "little", signed=signed)

    return conv


def not_nan(value: float) -> float:
    """Borsh refuses NaN floats."""
    if value != value:
        raise DecodeError("NaN is not a valid Borsh float")
    return value


def to_bool(raw: int) -> bool:
    if raw > 1:
        raise DecodeError(f"invalid bool byte {raw}")
    return raw == 1


def pubkey_str(raw: bytes) -> str:
    return str(Pubkey(raw))


def hex_str(raw: bytes) -> str:
    return raw.hex()


def enum_unit(type_name: str, names: Sequence[str]) -> Callable[[int], str]:
    """Variant index -> variant name; an enum of unit variants reads as one fixed-size byte."""
    names = tuple(names)

    def unit(tag: int) -> str:
        if tag >= len(names):
            raise DecodeError(f"invalid {type_name} variant index {tag}")
        return names[tag]

    return unit


# --- variable-size and composite types ---


def read_len(data: bytes, off: int, min_size: int, what: str) -> tuple[int, int]:
    """A u32 length prefix, refused when ``n`` items of ``min_size`` bytes cannot fit in what is left."""
    (n,) = U32.unpack_from(data, off)
    off += 4
    if n * max(min_size, 1) > len(data) - off:
        raise DecodeError(f"{what} length {n} exceeds the {len(data) - off} bytes left")
    return n, off


def string_reader() -> Reader:
    unpack_from = U32.unpack_from

    def read(data: bytes, off: int) -> tuple[Any, int]:
        (n,) = unpack_from(data, off)
        off += 4
        end = off + n
        if end > len(data):
            raise DecodeError(f"string length {n} exceeds the {len(data) - off} bytes left")
        return data[off:end].decode("utf-8"), end

    return read


def bytes_reader() -> Reader:
    def read(data: bytes, off: int) -> tuple[Any, int]:
        n, off = read_len(data, off, 1, "bytes")
        return data[off : off + n].hex(), off + n

    return read


def _read_items(read_item: Reader, n: int, data: bytes, off: int) -> tuple[list[Any], int]:
    out = []
    for _ in range(n):
        v, off = read_item(data, off)
        out.append(v)
    return out, off


def array_reader(read_item: Reader, n: int) -> Reader:
    def read(data: bytes, off: int) -> tuple[Any, int]:
        return _read_items(read_item, n, data, off)

    return read


def vec_reader(read_item: Reader, min_size: int) -> Reader:
    def read(data: bytes, off: int) -> tuple[Any, int]:
        n, off = read_len(data, off, min_size, "vec")
        return _read_items(read_item, n, data, off)

    return read


def option_reader(read_item: Reader, tag: struct.Struct) -> Reader:
    unpack_from, size = tag.unpack_from, tag.size

    def read(data: bytes, off: int) -> tuple[Any, int]:
        (t,) = unpack_from(data, off)
        off += size
        if t == 0:
            return None, off
        if t != 1:
            raise DecodeError(f"invalid option tag {t}")
        return read_item(data, off)

    return read


def struct_reader(fields: Sequence[tuple[str, Layout]]) -> Reader:
    """Named-field struct -> dict. Runs of fixed-size fields are unpacked at once."""
    # A step is (merged Struct, ((name, conv), ...)) for a run of fixed-size fields,
    # or (None, (name, reader)) for one variable-size field.
    steps: list[tuple[struct.Struct | None, Any]] = []
    run_fmt: list[str] = []
    run_fields: list[tuple[str, Conv | None]] = []

    def flush() -> None:
        if run_fields:
            steps.append((struct.Struct("<" + "".join(run_fmt)), tuple(run_fields)))
            run_fmt.clear()
            run_fields.clear()

    for fname, ftype in fields:
        if ftype.fmt is not None:
            run_fmt.append(ftype.fmt)
            run_fields.append((fname, ftype.conv))
        else:
            flush()
            steps.append((None, (fname, ftype.read)))
    flush()
    plan = tuple(steps)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        out: dict[str, Any] = {}
        for s, arg in plan:
            if s is not None:
                for (fname, conv), v in zip(arg, s.unpack_from(data, off), strict=True):
                    out[fname] = v if conv is None else conv(v)
                off += s.size
            else:
                out[arg[0]], off = arg[1](data, off)
        return out, off

    return read


def tuple_reader(items: Sequence[Reader]) -> Reader:
    """Tuple struct / tuple variant -> list."""
    readers = tuple(items)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        out = []
        for read_item in readers:
            v, off = read_item(data, off)
            out.append(v)
        return out, off

    return read


def enum_reader(type_name: str, names: Sequence[str], payloads: Sequence[Reader | None]) -> Reader:
    """Enum with a u8 tag and at least one variant with fields: unit variants read as their
    name, the others as ``{name: value}``."""
    unit = enum_unit(type_name, names)
    readers = tuple(payloads)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        tag = data[off]
        vname = unit(tag)
        read_payload = readers[tag]
        if read_payload is None:
            return vname, off + 1
        v, off = read_payload(data, off + 1)
        return {vname: v}, off

    return read


# --- whole items ---


def as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


def check_len(data: object, kind: str) -> bytes:
    """``data`` as bytes, refused when it is too short to hold a discriminator."""
    raw = as_bytes(data)
    if len(raw) < DISCRIMINATOR_LEN:
        raise DecodeError(f"{kind} data of {len(raw)} bytes is shorter than a discriminator")
    return raw


# What reading past the end or bad UTF-8 raises inside the readers.
_DECODE_FAILURES = (struct.error, UnicodeDecodeError, IndexError, OverflowError)


def decode_prefix(read: Reader, data: bytes, off: int, what: str) -> tuple[Any, int]:
    """Reads one value at ``off``; bytes after it are left alone. Every failure is a ``DecodeError``."""
    try:
        return read(data, off)
    except DecodeError as e:
        raise DecodeError(f"{what}: {e}") from e
    except _DECODE_FAILURES as e:
        raise DecodeError(f"{what}: {type(e).__name__}: {e}") from e


def decode_all(read: Reader, data: bytes, off: int, what: str) -> Any:
    """Reads one value at ``off`` that must end exactly at the end of ``data``."""
    value, end = decode_prefix(read, data, off, what)
    if end != len(data):
        raise DecodeError(f"{what}: {len(data) - end} trailing bytes after offset {end}")
    return value
