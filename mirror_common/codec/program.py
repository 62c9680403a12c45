"""``Codec``: one program's IDL, with its events, accounts and instructions found by name or discriminator.

Everything is compiled when the codec is built, so a malformed or unsupported IDL fails there
(``IdlError``), as do two items of one kind sharing a discriminator. Decoding picks the item by
its 8-byte discriminator (``UnknownDiscriminator`` when none matches) and then refuses anything
that is not exactly its encoding, except that account data may carry bytes after the fields.
Instructions are built with the IDL's account order and signer/writable flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from .decode import as_bytes, check_len, decode_all, decode_prefix
from .encode import pubkey_bytes
from .errors import CodecError, EncodeError, IdlError, UnknownDiscriminator
from .idl import TypeCompiler, constant_value, default_idl_path, flatten_accounts, struct_layout
from .layout import DISCRIMINATOR_LEN, BytesLike, Layout
from .pda import ProgramAddresses


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


@dataclass(frozen=True, slots=True)
class _Item:
    """An event, account or instruction: its name, discriminator and compiled layout."""

    name: str
    discriminator: bytes
    layout: Layout


class Codec(ProgramAddresses):
    """Encoder/decoder for one Anchor IDL (spec 0.1.0)."""

    def __init__(self, idl: Mapping[str, Any], program_id: Pubkey | str | None = None) -> None:
        spec = idl.get("metadata", {}).get("spec")
        if spec is None or "address" not in idl:
            raise IdlError("not an Anchor IDL of the current format (no metadata.spec / address)")
        self.idl = idl
        self.program_id = Pubkey.from_string(str(program_id or idl["address"]))
        tc = TypeCompiler(idl.get("types", []))
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
            args = struct_layout(ix["name"], [(a["name"], tc.compile(a["type"])) for a in ix.get("args", [])])
            self.instructions[ix["name"]] = _Item(ix["name"], bytes(ix["discriminator"]), args)
            self._ix_accounts[ix["name"]] = list(flatten_accounts(ix.get("accounts", [])))

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
        self.constants: dict[str, Any] = {c["name"]: constant_value(c) for c in idl.get("constants", [])}

    @classmethod
    def from_path(cls, path: str | os.PathLike[str] | None = None, program_id: Pubkey | str | None = None) -> Codec:
        """Loads an IDL file (default: :func:`default_idl_path`)."""
        p = Path(path) if path is not None else default_idl_path()
        with open(p, encoding="utf-8") as f:
            return cls(json.load(f), program_id)

    # -- generic types --

    def decode_type(self, idl_type: Any, data: BytesLike) -> Any:
        """Decodes a whole buffer as one IDL type (e.g. ``{"defined": {"name": "TrainingParams"}}``)."""
        return decode_all(self._compile_type(idl_type).read, as_bytes(data), 0, str(idl_type))

    def encode_type(self, idl_type: Any, value: Any) -> bytes:
        """Encodes one value of an IDL type."""
        out = bytearray()
        self._compile_type(idl_type).write(value, out)
        return bytes(out)

    # -- events --

    def decode_event(self, data: BytesLike) -> DecodedEvent:
        """Decodes a ``Program data:`` payload (discriminator + Borsh fields, nothing after)."""
        raw = check_len(data, "event")
        item = self._event_by_disc.get(raw[:DISCRIMINATOR_LEN])
        if item is None:
            raise UnknownDiscriminator("event", raw[:DISCRIMINATOR_LEN])
        return DecodedEvent(item.name, decode_all(item.layout.read, raw, DISCRIMINATOR_LEN, item.name))

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
        raw = check_len(data, "account")
        disc = raw[:DISCRIMINATOR_LEN]
        item = self._account_by_disc.get(disc)
        if item is None or (name is not None and item.name != name):
            raise UnknownDiscriminator(f"account{'' if name is None else ' ' + name}", disc)
        fields, _ = decode_prefix(item.layout.read, raw, DISCRIMINATOR_LEN, item.name)
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
        raw = check_len(data, "instruction")
        item = self._ix_by_disc.get(raw[:DISCRIMINATOR_LEN])
        if item is None:
            raise UnknownDiscriminator("instruction", raw[:DISCRIMINATOR_LEN])
        return item.name, decode_all(item.layout.read, raw, DISCRIMINATOR_LEN, item.name)

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
                key = Pubkey(pubkey_bytes(given))
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

    # -- helpers --

    @staticmethod
    def _get(table: Mapping[str, _Item], kind: str, name: str) -> _Item:
        item = table.get(name)
        if item is None:
            raise CodecError(f"no {kind} named {name!r} in the IDL")
        return item


def _encode(item: _Item, fields: Mapping[str, Any]) -> bytes:
    out = bytearray(item.discriminator)
    item.layout.write(fields, out)
    return bytes(out)
