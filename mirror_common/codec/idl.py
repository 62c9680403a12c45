"""Reading an Anchor IDL (spec 0.1.0): where it lives, its types compiled into ``Layout``s, its constants and account lists.

``TypeCompiler`` turns each IDL type into one reader (``decode``) and one writer (``encode``),
once: a defined type is compiled on first use and cached, and a type that refers to itself gets
a forward reference. What the codec does not support (generics, non-Borsh serialization,
unknown kinds) raises ``IdlError`` when the codec is built, not when a value is first decoded.
"""

from __future__ import annotations

import ast
import os
import struct
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import decode, encode
from .errors import IdlError
from .layout import U8, U32, Conv, Layout, Writer


def default_idl_path() -> Path:
    """``$MIRROR_IDL_PATH`` if set, else ``idl/mirror.json`` at the repository root."""
    env = os.environ.get("MIRROR_IDL_PATH")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "idl" / "mirror.json"


def _fixed(fmt: str, conv: Conv | None, write: Writer) -> Layout:
    return Layout(decode.fixed_reader(fmt, conv), write, struct.calcsize("<" + fmt), fmt, conv)


def _primitives() -> dict[str, Layout]:
    table = {name: _fixed(code, None, encode.int_writer(name)) for name, (code, _, _) in encode.INT_RANGES.items()}
    pubkey = _fixed("32s", decode.pubkey_str, encode.pubkey_writer())
    table.update(
        u128=_fixed("16s", decode.int128_conv(False), encode.int128_writer(False)),
        i128=_fixed("16s", decode.int128_conv(True), encode.int128_writer(True)),
        f32=_fixed("f", decode.not_nan, encode.float_writer("f32")),
        f64=_fixed("d", decode.not_nan, encode.float_writer("f64")),
        bool=_fixed("B", decode.to_bool, encode.bool_writer()),
        pubkey=pubkey,
        publicKey=pubkey,
        string=Layout(decode.string_reader(), encode.string_writer(), 4),
        bytes=Layout(decode.bytes_reader(), encode.bytes_writer(), 4),
    )
    return table


def _lazy(cell: Mapping[str, Layout], name: str) -> Layout:
    """Forward reference for recursive defined types: looks the layout up when first used."""

    def read(data: bytes, off: int) -> tuple[Any, int]:
        return cell[name].read(data, off)

    def write(value: Any, out: bytearray) -> None:
        cell[name].write(value, out)

    return Layout(read, write, 0)


def struct_layout(type_name: str, fields: Sequence[tuple[str, Layout]]) -> Layout:
    """Named-field struct (also an instruction's args) -> dict."""
    return Layout(
        decode.struct_reader(fields),
        encode.struct_writer(type_name, [(n, f.write) for n, f in fields]),
        sum(f.min_size for _, f in fields),
    )


def _tuple_layout(type_name: str, items: Sequence[Layout]) -> Layout:
    """Tuple struct / tuple variant -> list."""
    return Layout(
        decode.tuple_reader([i.read for i in items]),
        encode.tuple_writer(type_name, [i.write for i in items]),
        sum(i.min_size for i in items),
    )


def _enum_layout(type_name: str, variants: Sequence[tuple[str, Layout | None]]) -> Layout:
    """Enum with a u8 tag. Unit variants decode to their name; others to {name: value}."""
    names = [n for n, _ in variants]
    write = encode.enum_writer(type_name, names, [None if p is None else p.write for _, p in variants])
    if all(p is None for _, p in variants):
        return _fixed("B", decode.enum_unit(type_name, names), write)
    return Layout(decode.enum_reader(type_name, names, [None if p is None else p.read for _, p in variants]), write, 1)


def _array_layout(item: Layout, n: int) -> Layout:
    return Layout(decode.array_reader(item.read, n), encode.array_writer(item.write, n), item.min_size * n)


def _option_layout(item: Layout, tag: struct.Struct) -> Layout:
    return Layout(decode.option_reader(item.read, tag), encode.option_writer(item.write, tag), tag.size)


class TypeCompiler:
    """Compiles the IDL's type expressions against its ``types`` section."""

    def __init__(self, type_defs: Sequence[Mapping[str, Any]]) -> None:
        self.defs = {t["name"]: t for t in type_defs}
        self.done: dict[str, Layout] = {}
        self.in_progress: set[str] = set()
        self.primitives = _primitives()

    def compile(self, t: Any) -> Layout:
        """The layout of a type expression: ``"u64"``, ``{"vec": ...}``, ``{"defined": {"name": ...}}``."""
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
            if item == "u8":
                return _fixed(f"{n}s", decode.hex_str, encode.u8_array_writer(n))
            return _array_layout(self.compile(item), n)
        if kind == "vec":
            item_layout = self.compile(arg)
            return Layout(decode.vec_reader(item_layout.read, item_layout.min_size), encode.vec_writer(item_layout.write), 4)
        if kind == "option":
            return _option_layout(self.compile(arg), U8)
        if kind == "coption":
            return _option_layout(self.compile(arg), U32)
        if kind == "defined":
            name = arg if isinstance(arg, str) else arg["name"]
            if not isinstance(arg, str) and arg.get("generics"):
                raise IdlError(f"generic type {name} is not supported")
            return self.defined(name)
        raise IdlError(f"unsupported IDL type {t!r}")

    def defined(self, name: str) -> Layout:
        """The layout of a type of the ``types`` section, compiled once."""
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
                compiled = _enum_layout(name, [(v["name"], self._variant(name, v.get("fields"))) for v in body["variants"]])
            elif kind == "type":
                compiled = self.compile(body["alias"])
            else:
                raise IdlError(f"type {name}: unsupported kind {kind!r}")
        finally:
            self.in_progress.discard(name)
        self.done[name] = compiled
        return compiled

    def _fields(self, name: str, fields: Any) -> Layout:
        if not fields:
            return struct_layout(name, [])
        if isinstance(fields[0], Mapping) and "name" in fields[0]:
            return struct_layout(name, [(f["name"], self.compile(f["type"])) for f in fields])
        return _tuple_layout(name, [self.compile(f) for f in fields])

    def _variant(self, enum_name: str, fields: Any) -> Layout | None:
        return None if not fields else self._fields(enum_name, fields)


def flatten_accounts(accounts: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """An instruction's accounts in order, with composite account groups expanded in place."""
    for a in accounts:
        if "accounts" in a:
            yield from flatten_accounts(a["accounts"])
        else:
            yield a


def constant_value(c: Mapping[str, Any]) -> Any:
    """An IDL constant's value (the IDL stores them as Rust literals): bytes, int, bool or str.
    A literal this does not understand is kept as the IDL's string."""
    t, v = c["type"], c["value"]
    try:
        if t == "bytes" or (isinstance(t, Mapping) and "array" in t and t["array"][0] == "u8"):
            return bytes(ast.literal_eval(v))
        if isinstance(t, str) and (t in encode.INT_RANGES or t in ("u128", "i128")):
            return int(v)
        if t == "bool":
            return v == "true"
        if t == "string":
            return ast.literal_eval(v) if v.startswith('"') else v
    except (ValueError, SyntaxError):
        pass
    return v
