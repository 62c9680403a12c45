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
"""

from __future__ import annotations

import ast
import json
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

__all__ = [
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

DISCRIMINATOR_LEN = 8

# --- errors ---------------------------------------------------------------------


class CodecError(ValueError):
    """Base class of every error this module raises."""


class IdlError(CodecError):
    """The IDL uses something this codec does not support, or is malformed."""


class DecodeError(CodecError):
    """The bytes are not a valid encoding (truncated, trailing bytes, bad tag, bad UTF-8)."""


class UnknownDiscriminator(DecodeError):
    """The first 8 bytes match no event/account/instruction of the IDL."""

    def __init__(self, kind: str, discriminator: bytes) -> None:
        self.kind = kind
        self.discriminator = bytes(discriminator)
        super().__init__(f"unknown {kind} discriminator {self.discriminator.hex() or '(empty)'}")


class EncodeError(CodecError):
    """A value does not fit its IDL type; ``path`` names the field (e.g. ``params.epochs``)."""

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        self.message = message
        self.path: list[str] = list(path)
        super().__init__(message)

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.message}" if self.path else self.message


# --- results --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """An event: its IDL name and its fields (JSON-friendly)."""

    name: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecodedAccount:
    """An account: its IDL type name and its fields (JSON-friendly)."""

    name: str
    fields: dict[str, Any]


# --- compiled types ---------------------------------------------------------------

Reader = Callable[[bytes, int], tuple[Any, int]]
BytesLike = bytes | bytearray | memoryview
Writer = Callable[[Any, bytearray], None]


@dataclass(slots=True)
class _Compiled:
    """A compiled IDL type. ``fmt``/``conv`` are set for fixed-size types that a struct
    may merge into one ``unpack_from`` (``conv`` turns the unpacked value into the
    decoded one); ``min_size`` bounds how many elements a length prefix may claim."""

    read: Reader
    write: Writer
    min_size: int
    fmt: str | None = None
    conv: Callable[[Any], Any] | None = None


_U32 = struct.Struct("<I")
_U8 = struct.Struct("<B")

_INT_RANGES: dict[str, tuple[str, int, int]] = {
    "u8": ("B", 0, 2**8 - 1),
    "i8": ("b", -(2**7), 2**7 - 1),
    "u16": ("H", 0, 2**16 - 1),
    "i16": ("h", -(2**15), 2**15 - 1),
    "u32": ("I", 0, 2**32 - 1),
    "i32": ("i", -(2**31), 2**31 - 1),
    "u64": ("Q", 0, 2**64 - 1),
    "i64": ("q", -(2**63), 2**63 - 1),
}


def _check_int(value: Any, name: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise EncodeError(f"expected int for {name}, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise EncodeError(f"{value} out of range for {name}")
    return value


def _fixed_reader(fmt: str, conv: Callable[[Any], Any] | None) -> Reader:
    s = struct.Struct("<" + fmt)
    unpack_from, size = s.unpack_from, s.size
    if conv is None:

        def read(data: bytes, off: int) -> tuple[Any, int]:
            return unpack_from(data, off)[0], off + size

    else:

        def read(data: bytes, off: int) -> tuple[Any, int]:
            return conv(unpack_from(data, off)[0]), off + size

    return read


def _int_type(name: str) -> _Compiled:
    code, lo, hi = _INT_RANGES[name]
    s = struct.Struct("<" + code)
    pack = s.pack

    def write(value: Any, out: bytearray) -> None:
        out += pack(_check_int(value, name, lo, hi))

    return _Compiled(_fixed_reader(code, None), write, s.size, code, None)


def _int128_type(signed: bool) -> _Compiled:
    name = "i128" if signed else "u128"
    lo, hi = (-(2**127), 2**127 - 1) if signed else (0, 2**128 - 1)

    def conv(raw: bytes) -> int:
        return int.from_bytes(raw, "little", signed=signed)

    def write(value: Any, out: bytearray) -> None:
        out += _check_int(value, name, lo, hi).to_bytes(16, "little", signed=signed)

    return _Compiled(_fixed_reader("16s", conv), write, 16, "16s", conv)


def _not_nan(value: float) -> float:
    if value != value:
        raise DecodeError("NaN is not a valid Borsh float")
    return value


def _float_type(name: str) -> _Compiled:
    """Borsh refuses NaN both ways; so does this codec."""
    code = "f" if name == "f32" else "d"
    s = struct.Struct("<" + code)
    pack = s.pack

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise EncodeError(f"expected float for {name}, got {type(value).__name__}")
        if value != value:
            raise EncodeError(f"NaN cannot be encoded as {name}")
        try:
            out += pack(value)
        except (OverflowError, struct.error) as e:
            raise EncodeError(f"{value} out of range for {name}") from e

    return _Compiled(_fixed_reader(code, _not_nan), write, s.size, code, _not_nan)


def _to_bool(raw: int) -> bool:
    if raw > 1:
        raise DecodeError(f"invalid bool byte {raw}")
    return raw == 1


def _bool_type() -> _Compiled:
    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, bool):
            raise EncodeError(f"expected bool, got {type(value).__name__}")
        out.append(1 if value else 0)

    return _Compiled(_fixed_reader("B", _to_bool), write, 1, "B", _to_bool)


def _pubkey_str(raw: bytes) -> str:
    return str(Pubkey(raw))


def _pubkey_bytes(value: Any) -> bytes:
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


def _pubkey_type() -> _Compiled:
    def write(value: Any, out: bytearray) -> None:
        out += _pubkey_bytes(value)

    return _Compiled(_fixed_reader("32s", _pubkey_str), write, 32, "32s", _pubkey_str)


def _hex(raw: bytes) -> str:
    return raw.hex()


def _bytes_value(value: Any, what: str) -> bytes:
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
            _check_int(v, "u8", 0, 255)
        return bytes(value)
    raise EncodeError(f"expected hex str or bytes for {what}, got {type(value).__name__}")


def _u8_array_type(n: int) -> _Compiled:
    fmt = f"{n}s"
    what = f"[u8; {n}]"

    def write(value: Any, out: bytearray) -> None:
        raw = _bytes_value(value, what)
        if len(raw) != n:
            raise EncodeError(f"{what} needs {n} bytes, got {len(raw)}")
        out += raw

    return _Compiled(_fixed_reader(fmt, _hex), write, n, fmt, _hex)


def _read_len(data: bytes, off: int, min_size: int, what: str) -> tuple[int, int]:
    (n,) = _U32.unpack_from(data, off)
    off += 4
    if n * max(min_size, 1) > len(data) - off:
        raise DecodeError(f"{what} length {n} exceeds the {len(data) - off} bytes left")
    return n, off


def _string_type() -> _Compiled:
    unpack_from = _U32.unpack_from
    pack = _U32.pack

    def read(data: bytes, off: int) -> tuple[Any, int]:
        (n,) = unpack_from(data, off)
        off += 4
        end = off + n
        if end > len(data):
            raise DecodeError(f"string length {n} exceeds the {len(data) - off} bytes left")
        return data[off:end].decode("utf-8"), end

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, str):
            raise EncodeError(f"expected str, got {type(value).__name__}")
        raw = value.encode("utf-8")
        out += pack(len(raw))
        out += raw

    return _Compiled(read, write, 4)


def _bytes_type() -> _Compiled:
    def read(data: bytes, off: int) -> tuple[Any, int]:
        n, off = _read_len(data, off, 1, "bytes")
        return data[off : off + n].hex(), off + n

    def write(value: Any, out: bytearray) -> None:
        raw = _bytes_value(value, "bytes")
        out += _U32.pack(len(raw))
        out += raw

    return _Compiled(read, write, 4)


def _seq_write(item: _Compiled, value: Any, out: bytearray) -> None:
    w = item.write
    for i, v in enumerate(value):
        try:
            w(v, out)
        except EncodeError as e:
            e.path.insert(0, f"[{i}]")
            raise


def _read_items(read_item: Reader, n: int, data: bytes, off: int) -> tuple[list[Any], int]:
    out = []
    for _ in range(n):
        v, off = read_item(data, off)
        out.append(v)
    return out, off


def _array_type(item: _Compiled, n: int) -> _Compiled:
    read_item = item.read

    def read(data: bytes, off: int) -> tuple[Any, int]:
        return _read_items(read_item, n, data, off)

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"expected a list of {n} items, got {type(value).__name__}")
        if len(value) != n:
            raise EncodeError(f"expected {n} items, got {len(value)}")
        _seq_write(item, value, out)

    return _Compiled(read, write, item.min_size * n)


def _vec_type(item: _Compiled) -> _Compiled:
    read_item, min_size = item.read, item.min_size

    def read(data: bytes, off: int) -> tuple[Any, int]:
        n, off = _read_len(data, off, min_size, "vec")
        return _read_items(read_item, n, data, off)

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)):
            raise EncodeError(f"expected a list, got {type(value).__name__}")
        out += _U32.pack(len(value))
        _seq_write(item, value, out)

    return _Compiled(read, write, 4)


def _option_type(item: _Compiled, tag: struct.Struct) -> _Compiled:
    read_item, write_item = item.read, item.write
    unpack_from, size, pack = tag.unpack_from, tag.size, tag.pack
    none, some = pack(0), pack(1)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        (t,) = unpack_from(data, off)
        off += size
        if t == 0:
            return None, off
        if t != 1:
            raise DecodeError(f"invalid option tag {t}")
        return read_item(data, off)

    def write(value: Any, out: bytearray) -> None:
        if value is None:
            out += none
        else:
            out += some
            write_item(value, out)

    return _Compiled(read, write, size)


def _struct_type(type_name: str, fields: list[tuple[str, _Compiled]]) -> _Compiled:
    """Named-field struct -> dict. Runs of fixed-size fields are unpacked at once."""
    steps: list[tuple[struct.Struct | None, Any]] = []
    run_fmt: list[str] = []
    run_fields: list[tuple[str, Callable[[Any], Any] | None]] = []

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
    min_size = sum(f.min_size for _, f in fields)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        out: dict[str, Any] = {}
        for s, arg in plan:
            if s is not None:
                for (fname, conv), v in zip(arg, s.unpack_from(data, off)):
                    out[fname] = v if conv is None else conv(v)
                off += s.size
            else:
                out[arg[0]], off = arg[1](data, off)
        return out, off

    names = [n for n, _ in fields]
    name_set = frozenset(names)
    writers = tuple((n, f.write) for n, f in fields)

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

    return _Compiled(read, write, min_size)


def _tuple_type(type_name: str, items: list[_Compiled]) -> _Compiled:
    """Tuple struct / tuple variant -> list."""
    n = len(items)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        out = []
        for item in items:
            v, off = item.read(data, off)
            out.append(v)
        return out, off

    def write(value: Any, out: bytearray) -> None:
        if not isinstance(value, (list, tuple)) or len(value) != n:
            raise EncodeError(f"expected a list of {n} items for {type_name}")
        for i, (item, v) in enumerate(zip(items, value)):
            try:
                item.write(v, out)
            except EncodeError as e:
                e.path.insert(0, f"[{i}]")
                raise

    return _Compiled(read, write, sum(i.min_size for i in items))


def _enum_type(type_name: str, variants: list[tuple[str, _Compiled | None]]) -> _Compiled:
    """Enum with a u8 tag. Unit variants decode to their name; others to {name: value}."""
    names = tuple(n for n, _ in variants)
    index = {n: i for i, n in enumerate(names)}
    payloads = tuple(p for _, p in variants)

    def unit(tag: int) -> str:
        if tag >= len(names):
            raise DecodeError(f"invalid {type_name} variant index {tag}")
        return names[tag]

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
        payload = payloads[i]
        if payload is None:
            if inner not in (None, {}, []):
                raise EncodeError(f"{type_name}::{vname} has no fields")
        else:
            if isinstance(value, str):
                raise EncodeError(f"{type_name}::{vname} needs its fields: {{{vname!r}: ...}}")
            try:
                payload.write(inner, out)
            except EncodeError as e:
                e.path.insert(0, vname)
                raise

    if all(p is None for p in payloads):
        return _Compiled(_fixed_reader("B", unit), write, 1, "B", unit)

    def read(data: bytes, off: int) -> tuple[Any, int]:
        vname = unit(data[off])
        payload = payloads[index[vname]]
        if payload is None:
            return vname, off + 1
        v, off = payload.read(data, off + 1)
        return {vname: v}, off

    return _Compiled(read, write, 1)


def _lazy(cell: dict[str, _Compiled], name: str) -> _Compiled:
    """Forward reference for recursive defined types."""

    def read(data: bytes, off: int) -> tuple[Any, int]:
        return cell[name].read(data, off)

    def write(value: Any, out: bytearray) -> None:
        cell[name].write(value, out)

    return _Compiled(read, write, 0)


class _TypeCompiler:
    def __init__(self, type_defs: Sequence[Mapping[str, Any]]) -> None:
        self.defs = {t["name"]: t for t in type_defs}
        self.done: dict[str, _Compiled] = {}
        self.in_progress: set[str] = set()
        self.primitives: dict[str, _Compiled] = {name: _int_type(name) for name in _INT_RANGES}
        self.primitives.update(
            u128=_int128_type(False),
            i128=_int128_type(True),
            f32=_float_type("f32"),
            f64=_float_type("f64"),
            bool=_bool_type(),
            pubkey=_pubkey_type(),
            publicKey=_pubkey_type(),
            string=_string_type(),
            bytes=_bytes_type(),
        )

    def compile(self, t: Any) -> _Compiled:
        if isinstance(t, str):
            try:
                return self.primitives[t]
            except KeyError:
                raise IdlError(f"unsupported IDL type {t!r}") from None
        if not isinstance(t, Mapping) or len(t) != 1:
            raise IdlError(f"unsupported IDL type {t!r}")
        ((kind, arg),) = t.items()
        if kind == "array":
            item, n = arg
            if not isinstance(n, int):
                raise IdlError(f"unsupported array length {n!r} (generic lengths are not supported)")
            return _u8_array_type(n) if item == "u8" else _array_type(self.compile(item), n)
        if kind == "vec":
            return _vec_type(self.compile(arg))
        if kind == "option":
            return _option_type(self.compile(arg), _U8)
        if kind == "coption":
            return _option_type(self.compile(arg), _U32)
        if kind == "defined":
            name = arg if isinstance(arg, str) else arg["name"]
            if not isinstance(arg, str) and arg.get("generics"):
                raise IdlError(f"generic type {name} is not supported")
            return self.defined(name)
        raise IdlError(f"unsupported IDL type {t!r}")

    def defined(self, name: str) -> _Compiled:
        if name in self.done:
            return self.done[name]
        if name in self.in_progress:
            return _lazy(self.done, name)
        td = self.defs.get(name)
        if td is None:
            raise IdlError(f"type {name} is not defined in the IDL")
        if td.get("generics"):
            raise IdlError(f"generic type {name} is not supported")
        if td.get("serialization", "borsh") != "borsh":
            raise IdlError(f"type {name}: serialization {td['serialization']!r} is not supported")
        self.in_progress.add(name)
        try:
            body = td["type"]
            kind = body["kind"]
            if kind == "struct":
                compiled = self._fields(name, body.get("fields"))
            elif kind == "enum":
                compiled = _enum_type(
                    name, [(v["name"], self._variant(name, v.get("fields"))) for v in body["variants"]]
                )
            elif kind == "type":
                compiled = self.compile(body["alias"])
            else:
                raise IdlError(f"type {name}: unsupported kind {kind!r}")
        finally:
            self.in_progress.discard(name)
        self.done[name] = compiled
        return compiled

    def _fields(self, name: str, fields: Any) -> _Compiled:
        if not fields:
            return _struct_type(name, [])
        if isinstance(fields[0], Mapping) and "name" in fields[0]:
            return _struct_type(name, [(f["name"], self.compile(f["type"])) for f in fields])
        return _tuple_type(name, [self.compile(f) for f in fields])

    def _variant(self, enum_name: str, fields: Any) -> _Compiled | None:
        return None if not fields else self._fields(enum_name, fields)


# --- codec ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Item:
    """An event, account or instruction: its name, discriminator and compiled layout."""

    name: str
    discriminator: bytes
    layout: _Compiled


def _seed_bytes(value: Any, what: str) -> bytes:
    if isinstance(value, Pubkey):
        return bytes(value)
    if isinstance(value, str):
        return _pubkey_bytes(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise EncodeError(f"{what}: expected a pubkey, got {type(value).__name__}")


class Codec:
    """Encoder/decoder for one Anchor IDL (spec 0.1.0)."""

    def __init__(self, idl: Mapping[str, Any], program_id: Pubkey | str | None = None) -> None:
        spec = idl.get("metadata", {}).get("spec")
        if spec is None or "address" not in idl:
            raise IdlError("not an Anchor IDL of the current format (no metadata.spec / address)")
        self.idl = idl
        self.program_id: Pubkey = Pubkey.from_string(str(program_id or idl["address"]))
        tc = _TypeCompiler(idl.get("types", []))
        self._compile_type = tc.compile

        self.events: dict[str, _Item] = {}
        for e in idl.get("events", []):
            self.events[e["name"]] = _Item(e["name"], bytes(e["discriminator"]), tc.defined(e["name"]))
        self.accounts: dict[str, _Item] = {}
        for a in idl.get("accounts", []):
            self.accounts[a["name"]] = _Item(a["name"], bytes(a["discriminator"]), tc.defined(a["name"]))
        self.instructions: dict[str, _Item] = {}
        self._ix_accounts: dict[str, list[Mapping[str, Any]]] = {}
        for ix in idl.get("instructions", []):
            args = _struct_type(ix["name"], [(a["name"], tc.compile(a["type"])) for a in ix.get("args", [])])
            self.instructions[ix["name"]] = _Item(ix["name"], bytes(ix["discriminator"]), args)
            self._ix_accounts[ix["name"]] = list(_flatten_accounts(ix.get("accounts", [])))

        self._event_by_disc = {i.discriminator: i for i in self.events.values()}
        self._account_by_disc = {i.discriminator: i for i in self.accounts.values()}
        self._ix_by_disc = {i.discriminator: i for i in self.instructions.values()}
        for kind, table, items in (
            ("event", self._event_by_disc, self.events),
            ("account", self._account_by_disc, self.accounts),
            ("instruction", self._ix_by_disc, self.instructions),
        ):
            if len(table) != len(items):
                raise IdlError(f"two {kind}s share a discriminator")
        self.constants: dict[str, Any] = {c["name"]: _constant(c) for c in idl.get("constants", [])}

    @classmethod
    def from_path(cls, path: str | os.PathLike[str] | None = None, program_id: Pubkey | str | None = None) -> Codec:
        """Loads an IDL file (default: :func:`default_idl_path`)."""
        p = Path(path) if path is not None else default_idl_path()
        with open(p, encoding="utf-8") as f:
            return cls(json.load(f), program_id)

    # -- generic types --

    def decode_type(self, idl_type: Any, data: BytesLike) -> Any:
        """Decodes a whole buffer as one IDL type (e.g. ``{"defined": {"name": "TrainingParams"}}``)."""
        return _decode_all(self._compile_type(idl_type).read, _as_bytes(data), 0, str(idl_type))

    def encode_type(self, idl_type: Any, value: Any) -> bytes:
        """Encodes one value of an IDL type."""
        out = bytearray()
        self._compile_type(idl_type).write(value, out)
        return bytes(out)

    # -- events --

    def decode_event(self, data: BytesLike) -> DecodedEvent:
        """Decodes a ``Program data:`` payload (discriminator + Borsh fields, nothing after)."""
        data = _check_len(data, "event")
        item = self._event_by_disc.get(data[:DISCRIMINATOR_LEN])
        if item is None:
            raise UnknownDiscriminator("event", data[:DISCRIMINATOR_LEN])
        return DecodedEvent(item.name, _decode_all(item.layout.read, data, DISCRIMINATOR_LEN, item.name))

    def encode_event(self, name: str, fields: Mapping[str, Any]) -> bytes:
        """The ``Program data:`` payload that ``emit!`` would log for this event."""
        return _encode(self._get(self.events, "event", name), fields)

    def event_discriminator(self, name: str) -> bytes:
        return self._get(self.events, "event", name).discriminator

    # -- accounts --

    def account_type(self, data: BytesLike) -> str | None:
        """The account type named by the first 8 bytes (data or bare discriminator), or None."""
        item = self._account_by_disc.get(bytes(data[:DISCRIMINATOR_LEN]))
        return item.name if item else None

    def decode_account(self, data: BytesLike, name: str | None = None) -> DecodedAccount:
        """Decodes account data. Bytes after the fields are ignored: accounts are allocated
        for the longest strings, and a shrunk string leaves its old bytes behind.
        With ``name``, the discriminator must be that account type's."""
        data = _check_len(data, "account")
        disc = data[:DISCRIMINATOR_LEN]
        item = self._account_by_disc.get(disc)
        if item is None or (name is not None and item.name != name):
            raise UnknownDiscriminator(f"account{'' if name is None else ' ' + name}", disc)
        fields, _ = _decode_prefix(item.layout.read, data, DISCRIMINATOR_LEN, item.name)
        return DecodedAccount(item.name, fields)

    def encode_account(self, name: str, fields: Mapping[str, Any], *, size: int | None = None) -> bytes:
        """Discriminator + fields, zero-padded to ``size`` bytes when given."""
        data = _encode(self._get(self.accounts, "account", name), fields)
        if size is not None:
            if size < len(data):
                raise EncodeError(f"{name} needs {len(data)} bytes, more than size {size}")
            data += bytes(size - len(data))
        return data

    def account_discriminator(self, name: str) -> bytes:
        """For getProgramAccounts memcmp filters."""
        return self._get(self.accounts, "account", name).discriminator

    # -- instructions --

    def encode_instruction(self, name: str, args: Mapping[str, Any]) -> bytes:
        """Instruction data: discriminator + Borsh args."""
        return _encode(self._get(self.instructions, "instruction", name), args)

    def decode_instruction(self, data: BytesLike) -> tuple[str, dict[str, Any]]:
        """(instruction name, args) of instruction data; trailing bytes are an error."""
        data = _check_len(data, "instruction")
        item = self._ix_by_disc.get(data[:DISCRIMINATOR_LEN])
        if item is None:
            raise UnknownDiscriminator("instruction", data[:DISCRIMINATOR_LEN])
        return item.name, _decode_all(item.layout.read, data, DISCRIMINATOR_LEN, item.name)

    def instruction_discriminator(self, name: str) -> bytes:
        return self._get(self.instructions, "instruction", name).discriminator

    def instruction_account_names(self, name: str) -> list[str]:
        """The instruction's accounts, in order."""
        self._get(self.instructions, "instruction", name)
        return [a["name"] for a in self._ix_accounts[name]]

    def build_instruction(
        self,
        name: str,
        args: Mapping[str, Any],
        accounts: Mapping[str, Pubkey | str],
        *,
        remaining_accounts: Sequence[AccountMeta] = (),
    ) -> Instruction:
        """An Instruction with the IDL's account order and writable/signer flags.

        Accounts with a fixed address (system_program) may be left out; a missing
        optional account is passed as the program id (read-only), as Anchor does.
        PDAs are not derived here (use the ``*_pda`` helpers): some IDL seed paths
        cannot be resolved from arguments alone.
        """
        data = self.encode_instruction(name, args)
        specs = self._ix_accounts[name]
        known = {a["name"] for a in specs}
        unexpected = sorted(set(accounts) - known)
        if unexpected:
            raise EncodeError(f"{name}: unexpected accounts {', '.join(unexpected)} (expects {', '.join(known)})")
        metas: list[AccountMeta] = []
        missing: list[str] = []
        for spec in specs:
            aname = spec["name"]
            given = accounts.get(aname)
            fixed = spec.get("address")
            if given is None:
                if fixed is not None:
                    metas.append(AccountMeta(Pubkey.from_string(fixed), bool(spec.get("signer")), bool(spec.get("writable"))))
                elif spec.get("optional"):
                    metas.append(AccountMeta(self.program_id, False, False))
                else:
                    missing.append(aname)
                continue
            try:
                key = Pubkey(_pubkey_bytes(given))
            except EncodeError as e:
                e.path.insert(0, aname)
                raise
            if fixed is not None and str(key) != fixed:
                raise EncodeError(f"{name}: account {aname} must be {fixed}, got {key}")
            metas.append(AccountMeta(key, bool(spec.get("signer")), bool(spec.get("writable"))))
        if missing:
            raise EncodeError(f"{name}: missing accounts {', '.join(missing)}")
        metas.extend(remaining_accounts)
        return Instruction(self.program_id, data, metas)

    # -- PDAs --

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
        return self.find_pda(self._seed("TRAINER_SEED"), _seed_bytes(authority, "authority"))[0]

    def mirror_pda(self, creator: Pubkey | str, mirror_id: int) -> Pubkey:
        """``["mirror", creator, mirror_id u64 le]``"""
        mid = _check_int(mirror_id, "u64", 0, 2**64 - 1).to_bytes(8, "little")
        return self.find_pda(self._seed("MIRROR_SEED"), _seed_bytes(creator, "creator"), mid)[0]

    def grant_pda(self, mirror: Pubkey | str, grantee: Pubkey | str) -> Pubkey:
        """``["grant", mirror, grantee]``"""
        return self.find_pda(self._seed("GRANT_SEED"), _seed_bytes(mirror, "mirror"), _seed_bytes(grantee, "grantee"))[0]

    def job_pda(self, mirror: Pubkey | str, job_id: int) -> Pubkey:
        """``["job", mirror, job_id u64 le]``"""
        jid = _check_int(job_id, "u64", 0, 2**64 - 1).to_bytes(8, "little")
        return self.find_pda(self._seed("JOB_SEED"), _seed_bytes(mirror, "mirror"), jid)[0]

    def model_pda(self, mirror: Pubkey | str, version: int) -> Pubkey:
        """``["model", mirror, version u32 le]``"""
        ver = _check_int(version, "u32", 0, 2**32 - 1).to_bytes(4, "little")
        return self.find_pda(self._seed("MODEL_SEED"), _seed_bytes(mirror, "mirror"), ver)[0]

    # -- helpers --

    @staticmethod
    def _get(table: Mapping[str, _Item], kind: str, name: str) -> _Item:
        item = table.get(name)
        if item is None:
            raise CodecError(f"no {kind} named {name!r} in the IDL")
        return item


def _flatten_accounts(accounts: Sequence[Mapping[str, Any]]) -> Any:
    for a in accounts:
        if "accounts" in a:  # composite account group
            yield from _flatten_accounts(a["accounts"])
        else:
            yield a


def _constant(c: Mapping[str, Any]) -> Any:
    t, v = c["type"], c["value"]
    try:
        if t == "bytes" or (isinstance(t, Mapping) and "array" in t and t["array"][0] == "u8"):
            return bytes(ast.literal_eval(v))
        if isinstance(t, str) and (t in _INT_RANGES or t in ("u128", "i128")):
            return int(v)
        if t == "bool":
            return v == "true"
        if t == "string":
            return ast.literal_eval(v) if v.startswith('"') else v
    except (ValueError, SyntaxError):
        pass
    return v


def _check_len(data: Any, kind: str) -> bytes:
    raw = _as_bytes(data)
    if len(raw) < DISCRIMINATOR_LEN:
        raise DecodeError(f"{kind} data of {len(raw)} bytes is shorter than a discriminator")
    return raw


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"expected bytes, got {type(data).__name__}")


# What reading past the end or bad UTF-8 raises inside the readers.
_DECODE_FAILURES = (struct.error, UnicodeDecodeError, IndexError, OverflowError)


def _decode_prefix(read: Reader, data: bytes, off: int, what: str) -> tuple[Any, int]:
    try:
        return read(data, off)
    except DecodeError as e:
        raise DecodeError(f"{what}: {e}") from e
    except _DECODE_FAILURES as e:
        raise DecodeError(f"{what}: {type(e).__name__}: {e}") from e


def _decode_all(read: Reader, data: bytes, off: int, what: str) -> Any:
    value, end = _decode_prefix(read, data, off, what)
    if end != len(data):
        raise DecodeError(f"{what}: {len(data) - end} trailing bytes after offset {end}")
    return value


def _encode(item: _Item, fields: Mapping[str, Any]) -> bytes:
    out = bytearray(item.discriminator)
    item.layout.write(fields, out)
    return bytes(out)


# --- module-level API (the repository's IDL) -------------------------------------


def default_idl_path() -> Path:
    """``$MIRROR_IDL_PATH`` if set, else ``idl/mirror.json`` at the repository root."""
    env = os.environ.get("MIRROR_IDL_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "idl" / "mirror.json"


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
