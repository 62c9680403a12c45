"""The Borsh writer: JSON-friendly values to bytes, one writer closure per IDL type.

A writer checks its value before appending anything it would regret: ints against the type's
range, floats for NaN and overflow, strings, bytes and pubkeys for their form, structs for exactly
their fields, enums for a known variant. What does not fit raises ``EncodeError``; a composite
writer prepends the field name, index or variant to its ``path`` as the error passes through, so
the message names the value (``params.epochs: 300 out of range for u8``).

Besides the decoded forms it accepts ``solders`` ``Pubkey`` for pubkeys, bytes-like values and
lists of ints for ``bytes`` / ``[u8; N]``, and tuples wherever a list is accepted.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from solders.pubkey import Pubkey

from .errors import EncodeError
from .layout import U32, Writer

# struct format and inclusive range of each integer type that ``struct`` can pack.
INT_RANGES: dict[str, tuple[str, int, int]] = {
    "u8": ("B", 0, 2**8 - 1),
    "i8": ("b", -(2**7), 2**7 - 1),
    "u16": ("H", 0, 2**16 - 1),
    "i16": ("h", -(2**15), 2**15 - 1),
    "u32": ("I", 0, 2**32 - 1),
    "i32": ("i", -(2**31), 2**31 - 1),
    "u64": ("Q", 0, 2**64 - 1),
    "i64": ("q", -(2**63), 2**63 - 1),
}


def check_int(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an int of IDL type ``name``; bools are refused although they are ints."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"expected int for {name}, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise EncodeError(f"{value} out of range for {name}")
    return value


# --- fixed-size types ---


def int_writer(name: str) -> Writer:
    code, lo, hi = INT_RANGES[name]
    pack = struct.Struct("<" + code).pack

    def write(value: Any, out: bytearray) -> None:
        out += pack(check_int(value, name, lo, hi))

    return write


def int128_writer(signed: bool) -> Writer:
    name = "i128" if signed else "u128"
    lo, hi = (-(2**127), 2**127 - 1) if signed else (0, 2**128 - 1)

    def write(value: Any, out: bytearray) -> None:
        out += check_int(value, name, lo, hi).to_bytes(16, "little", signed=signed)

    return write


def float_writer(name: str) -> Writer:
    """Borsh refuses NaN; so does this writer."""
    pack = struct.Struct("<f" if name == "f32" else "<d").pack

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise EncodeError(f"expected float for {name}, got {type(value).__name__}")
        if value != value:
            raise EncodeError(f"NaN cannot be encoded as {name}")
        try:
            out += pack(value)
        except (OverflowError, struct.error) as e:
            raise EncodeError(f"{value} out of range for {name}") from e

    return write


def bool_writer() -> Writer:
    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise EncodeError(f"expected bool, got {type(value).__name__}")
        out.append(1 if value else 0)

    return write


def pubkey_bytes(value: Any) -> bytes:
    """Accepts a base58 str, a solders Pubkey or 32 raw bytes."""
    if isinstance(value, Pubkey):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes(Pubkey.from_string(value))
        except ValueError as e:
            raise EncodeError(f"invalid base58 pubkey {value!r}") from e
    if isinstance(value, (bytes, bytearray, memoryview)):
        if len(value) != 32:
            raise EncodeError(f"pubkey must be 32 bytes, got {len(value)}")
        return bytes(value)
    raise EncodeError(f"expected pubkey (base58 str or Pubkey), got {type(value).__name__}")


def pubkey_writer() -> Writer:
    def write(value: Any, out: bytearray) -> None:
        out += pubkey_bytes(value)

    return write


def bytes_value(value: Any, what: str) -> bytes:
    """Accepts a hex str, bytes-like, or a list of ints 0..255."""
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError as e:
            raise EncodeError(f"invalid hex string for {what}") from e
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        for v in value:
            check_int(v, "u8", 0, 255)
        return bytes(value)
    raise EncodeError(f"expected hex str or bytes for {what}, got {type(value).__name__}")


def u8_array_writer(n: int) -> Writer:
    what = f"[u8; {n}]"

    def write(value: Any, out: bytearray) -> None:
        raw = bytes_value(value, what)
        if len(raw) != n:
            raise EncodeError(f"{what} needs {n} bytes, got {len(raw)}")
        out += raw

    return write


# --- variable-size and composite types ---


def string_writer() -> Writer:
    pack = U32.pack

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise EncodeError(f"expected str, got {type(value).__name__}")
        raw = value.encode("utf-8")
        out += pack(len(raw))
        out += raw

    return write


def bytes_writer() -> Writer:
    def write(value: Any, out: bytearray) -> None:
        raw = bytes_value(value, "bytes")
        out += U32.pack(len(raw))
        out += raw

    return write


def _write_items(write_item: Writer, value: Sequence[Any], out: bytearray) -> None:
    for i, v in enumerate(value):
        try:
            write_item(v, out)
        except EncodeError as e:
            e.path.insert(0, f"[{i}]")
            raise


def array_writer(write_item: Writer, n: int) -> Writer:
    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"expected a list of {n} items, got {type(value).__name__}")
        if len(value) != n:
            raise EncodeError(f"expected {n} items, got {len(value)}")
        _write_items(write_item, value, out)

    return write


def vec_writer(write_item: Writer) -> Writer:
    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"expected a list, got {type(value).__name__}")
        out += U32.pack(len(value))
        _write_items(write_item, value, out)

    return write


def option_writer(write_item: Writer, tag: struct.Struct) -> Writer:
    none, some = tag.pack(0), tag.pack(1)

    def write(value: Any, out: bytearray) -> None:
        if value is None:
            out += none
        else:
            out += some
            write_item(value, out)

    return write


def struct_writer(type_name: str, fields: Sequence[tuple[str, Writer]]) -> Writer:
    """A dict with exactly the struct's fields, written in IDL order."""
    names = [n for n, _ in fields]
    name_set = frozenset(names)
    writers = tuple(fields)

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, Mapping):
            raise EncodeError(f"expected a dict for {type_name}, got {type(value).__name__}")
        if value.keys() != name_set:
            missing = [n for n in names if n not in value]
            extra = sorted(str(k) for k in value.keys() - name_set)
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise EncodeError(f"{type_name}: {'; '.join(parts)}")
        for fname, w in writers:
            try:
                w(value[fname], out)
            except EncodeError as e:
                e.path.insert(0, fname)
                raise

    return write


def tuple_writer(type_name: str, items: Sequence[Writer]) -> Writer:
    """A list (or tuple) of exactly the tuple struct's items."""
    writers = tuple(items)
    n = len(writers)

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)) or len(value) != n:
            raise EncodeError(f"expected a list of {n} items for {type_name}")
        for i, (w, v) in enumerate(zip(writers, value, strict=True)):
            try:
                w(v, out)
            except EncodeError as e:
                e.path.insert(0, f"[{i}]")
                raise

    return write


def enum_writer(type_name: str, names: Sequence[str], payloads: Sequence[Writer | None]) -> Writer:
    """A u8 variant index, then the variant's fields. Accepts a variant name (unit variants)
    or ``{name: fields}``; a unit variant may also come as ``{name: None | {} | []}``."""
    names = tuple(names)
    index = {n: i for i, n in enumerate(names)}
    writers = tuple(payloads)

    def write(value: Any, out: bytearray) -> None:
        if isinstance(value, str):
            vname, inner = value, None
        elif isinstance(value, Mapping) and len(value) == 1:
            ((vname, inner),) = value.items()
        else:
            raise EncodeError(f"expected a {type_name} variant name or {{variant: fields}}, got {value!r}")
        i = index.get(vname)
        if i is None:
            raise EncodeError(f"unknown {type_name} variant {vname!r} (one of {', '.join(names)})")
        out.append(i)
        write_payload = writers[i]
        if write_payload is None:
            if inner not in (None, {}, []):
                raise EncodeError(f"{type_name}::{vname} has no fields")
        else:
            if isinstance(value, str):
                raise EncodeError(f"{type_name}::{vname} needs its fields: {{{vname!r}: ...}}")
            try:
                write_payload(inner, out)
            except EncodeError as e:
                e.path.insert(0, vname)
                raise

    return write
