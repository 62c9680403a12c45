"""mirror_common.codec and mirror_common.logs against bytes produced by the real program.

tests/fixtures/program_capture.json is written by programs/mirror/tests/capture.rs
(a native run of the program; `expected` is built from the Rust types). Regenerate
with `UPDATE_FIXTURES=1 cargo test -p mirror --test capture`.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.codec import (
    Codec,
    CodecError,
    DecodeError,
    EncodeError,
    IdlError,
    UnknownDiscriminator,
)
from mirror_common.logs import LOG_TRUNCATED, LogFormatError, extract_program_data, is_truncated

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "program_capture.json"
IDL = json.loads((ROOT / "idl" / "mirror.json").read_text())
ITEMS: list[dict[str, Any]] = json.loads(FIXTURE.read_text())
for _item in ITEMS:
    _item["data"] = base64.b64decode(_item["data_b64"])

EVENTS = [i for i in ITEMS if i["kind"] == "event"]
ACCOUNTS = [i for i in ITEMS if i["kind"] == "account"]
INSTRUCTIONS = [i for i in ITEMS if i["kind"] == "instruction"]
PROGRAM_ID = IDL["address"]


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [f"{n}-{i['name']}" for n, i in enumerate(items)]


@pytest.fixture(scope="module")
def c() -> Codec:
    return codec.default_codec()


# --- coverage of the fixture ------------------------------------------------------


def test_fixture_covers_the_whole_idl() -> None:
    assert {i["name"] for i in EVENTS} == {e["name"] for e in IDL["events"]}
    assert len(IDL["events"]) == 18
    assert {"AdminProposed", "AdminChanged"} <= {i["name"] for i in EVENTS}
    assert {"propose_admin", "accept_admin"} <= {i["name"] for i in INSTRUCTIONS}
    assert {i["name"] for i in ACCOUNTS} == {a["name"] for a in IDL["accounts"]}
    assert len(IDL["accounts"]) == 6
    assert {i["name"] for i in INSTRUCTIONS} == {ix["name"] for ix in IDL["instructions"]}


def test_loading_by_path_and_program_id(tmp_path: Path) -> None:
    loaded = Codec.from_path(ROOT / "idl" / "mirror.json")
    assert str(loaded.program_id) == PROGRAM_ID
    assert codec.load_idl(str(ROOT / "idl" / "mirror.json")).decode_event(EVENTS[0]["data"]).name == EVENTS[0]["name"]
    other = Pubkey.new_unique()
    assert Codec(IDL, program_id=other).program_id == other
    assert codec.default_idl_path() == ROOT / "idl" / "mirror.json"
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"version": "0.1.0", "name": "mirror", "instructions": []}))
    with pytest.raises(IdlError):
        Codec.from_path(legacy)


# --- decoding what the program produced -------------------------------------------


@pytest.mark.parametrize("item", EVENTS, ids=_ids(EVENTS))
def test_event_decodes_to_rust_values_and_round_trips(c: Codec, item: dict[str, Any]) -> None:
    ev = c.decode_event(item["data"])
    assert ev.name == item["name"]
    assert ev.fields == item["expected"]
    assert codec.decode_event(item["data"]) == ev  # module-level API, same result
    assert c.encode_event(ev.name, item["expected"]) == item["data"]
    assert c.event_discriminator(ev.name) == item["data"][:8]


@pytest.mark.parametrize("item", ACCOUNTS, ids=_ids(ACCOUNTS))
def test_account_decodes_to_rust_values_and_round_trips(c: Codec, item: dict[str, Any]) -> None:
    data = item["data"]
    acc = c.decode_account(data)
    assert acc.name == item["name"]
    assert acc.fields == item["expected"]
    assert c.account_type(data) == item["name"]
    assert c.account_type(data[:8]) == item["name"]
    assert c.decode_account(data, item["name"]) == acc
    encoded = c.encode_account(acc.name, item["expected"])
    # Accounts are allocated for the longest strings: the rest is padding, or the
    # old bytes of a string that got shorter.
    assert data.startswith(encoded)
    if not any(data[len(encoded) :]):
        assert c.encode_account(acc.name, item["expected"], size=len(data)) == data


def test_account_tail_after_a_shrunk_string_is_ignored(c: Codec) -> None:
    # The scenario renames the mirror to a shorter name: stale bytes remain.
    stale = [i for i in ACCOUNTS if any(i["data"][len(c.encode_account(i["name"], i["expected"])) :])]
    assert [i["name"] for i in stale] == ["Mirror"]
    assert stale[0]["expected"]["name"] == "Ada, renamed"


PDA_OF: dict[str, Callable[[dict[str, Any]], Pubkey]] = {
    "Config": lambda f: codec.config_pda(),
    "Trainer": lambda f: codec.trainer_pda(f["authority"]),
    "Mirror": lambda f: codec.mirror_pda(f["creator"], f["mirror_id"]),
    "AccessGrant": lambda f: codec.grant_pda(f["mirror"], f["grantee"]),
    "TrainingJob": lambda f: codec.job_pda(f["mirror"], f["job_id"]),
    "ModelVersion": lambda f: codec.model_pda(f["mirror"], f["version"]),
}


def _key(s: str) -> bytes:
    return bytes(Pubkey.from_string(s))


# DESIGN.md section 2, written out by hand.
SEEDS_OF: dict[str, Callable[[dict[str, Any]], list[bytes]]] = {
    "Config": lambda f: [b"config"],
    "Trainer": lambda f: [b"trainer", _key(f["authority"])],
    "Mirror": lambda f: [b"mirror", _key(f["creator"]), f["mirror_id"].to_bytes(8, "little")],
    "AccessGrant": lambda f: [b"grant", _key(f["mirror"]), _key(f["grantee"])],
    "TrainingJob": lambda f: [b"job", _key(f["mirror"]), f["job_id"].to_bytes(8, "little")],
    "ModelVersion": lambda f: [b"model", _key(f["mirror"]), f["version"].to_bytes(4, "little")],
}


@pytest.mark.parametrize("item", ACCOUNTS, ids=_ids(ACCOUNTS))
def test_pda_helpers_give_the_program_addresses(c: Codec, item: dict[str, Any]) -> None:
    fields = item["expected"]
    address = PDA_OF[item["name"]](fields)
    assert str(address) == item["address"]
    # The stored bump is the canonical one for the documented seeds.
    assert c.find_pda(*SEEDS_OF[item["name"]](fields)) == (address, fields["bump"])


def test_pda_helpers_accept_pubkeys_and_match_idl_constants(c: Codec) -> None:
    creator = Pubkey.new_unique()
    assert c.mirror_pda(creator, 7) == c.mirror_pda(str(creator), 7)
    assert c.constants["CONFIG_SEED"] == b"config"
    assert c.constants["MODEL_SEED"] == b"model"
    assert c.constants["PERM_ALL"] == 15
    with pytest.raises(EncodeError):
        c.mirror_pda(creator, -1)
    with pytest.raises(EncodeError):
        c.model_pda(creator, 2**32)


@pytest.mark.parametrize("item", INSTRUCTIONS, ids=_ids(INSTRUCTIONS))
def test_instruction_data_encodes_and_decodes(c: Codec, item: dict[str, Any]) -> None:
    assert c.encode_instruction(item["name"], item["expected"]) == item["data"]
    assert c.decode_instruction(item["data"]) == (item["name"], item["expected"])
    assert codec.encode_instruction(item["name"], item["expected"]) == item["data"]


@pytest.mark.parametrize("item", INSTRUCTIONS, ids=_ids(INSTRUCTIONS))
def test_build_instruction_matches_anchor_account_metas(c: Codec, item: dict[str, Any]) -> None:
    specs = {a["name"]: a for a in IDL["instructions"] if a["name"] == item["name"]}[item["name"]]["accounts"]
    assert len(specs) == len(item["accounts"])
    accounts = {}
    for spec, meta in zip(specs, item["accounts"], strict=False):
        if spec.get("optional") and meta["pubkey"] == PROGRAM_ID:
            continue  # left out: must come back as the program id
        if "address" in spec:
            continue  # fixed address: filled in from the IDL
        accounts[spec["name"]] = Pubkey.from_string(meta["pubkey"])
    built = c.build_instruction(item["name"], item["expected"], accounts)
    expected = Instruction(
        Pubkey.from_string(PROGRAM_ID),
        item["data"],
        [AccountMeta(Pubkey.from_string(m["pubkey"]), m["signer"], m["writable"]) for m in item["accounts"]],
    )
    assert built == expected


def test_build_instruction_optional_account_given_and_errors(c: Codec) -> None:
    mirror, grant, authority = (Pubkey.new_unique() for _ in range(3))
    args = {"name": None, "metadata_uri": "ipfs://x", "visibility": None}
    ix = c.build_instruction(
        "update_mirror", args, {"config": c.config_pda(), "mirror": mirror, "grant": grant, "authority": str(authority)}
    )
    assert [(m.pubkey, m.is_signer, m.is_writable) for m in ix.accounts] == [
        (c.config_pda(), False, False),
        (mirror, False, True),
        (grant, False, False),
        (authority, True, False),
    ]
    with pytest.raises(EncodeError, match="missing accounts mirror"):
        c.build_instruction("update_mirror", args, {"config": c.config_pda(), "authority": authority})
    with pytest.raises(EncodeError, match="unexpected accounts bogus"):
        c.build_instruction("update_mirror", args, {"config": c.config_pda(), "mirror": mirror, "authority": authority, "bogus": grant})
    with pytest.raises(EncodeError, match="system_program must be"):
        c.build_instruction(
            "initialize_config",
            {},
            {"config": c.config_pda(), "admin": authority, "program": c.program_id, "program_data": grant, "system_program": mirror},
        )
    with pytest.raises(EncodeError, match="authority"):
        c.build_instruction("update_mirror", args, {"config": c.config_pda(), "mirror": mirror, "authority": "nope"})
    with pytest.raises(CodecError, match="no instruction named"):
        c.build_instruction("nope", {}, {})


# --- bad input -------------------------------------------------------------------


def test_unknown_discriminator(c: Codec) -> None:
    with pytest.raises(UnknownDiscriminator) as err:
        c.decode_event(bytes(8) + EVENTS[0]["data"][8:])
    assert err.value.discriminator == bytes(8)
    assert isinstance(err.value, DecodeError)
    # An account is not an event, an event is not an account or an instruction.
    with pytest.raises(UnknownDiscriminator):
        c.decode_event(ACCOUNTS[0]["data"])
    with pytest.raises(UnknownDiscriminator):
        c.decode_account(EVENTS[0]["data"])
    with pytest.raises(UnknownDiscriminator):
        c.decode_instruction(EVENTS[0]["data"])
    with pytest.raises(UnknownDiscriminator):
        c.decode_account(ACCOUNTS[0]["data"], "Mirror")  # a Config, asked for as a Mirror
    assert c.account_type(EVENTS[0]["data"]) is None
    with pytest.raises(DecodeError, match="shorter than a discriminator"):
        c.decode_event(b"\x01\x02")


@pytest.mark.parametrize("item", EVENTS + INSTRUCTIONS, ids=_ids(EVENTS + INSTRUCTIONS))
def test_every_truncation_and_trailing_bytes_are_decode_errors(c: Codec, item: dict[str, Any]) -> None:
    data = item["data"]
    decode = c.decode_event if item["kind"] == "event" else c.decode_instruction
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            decode(data[:n])
    for tail in (b"\x00", b"\x01\x02\x03"):
        with pytest.raises(DecodeError, match="trailing"):
            decode(data + tail)


@pytest.mark.parametrize("item", ACCOUNTS, ids=_ids(ACCOUNTS))
def test_truncated_accounts_are_decode_errors(c: Codec, item: dict[str, Any]) -> None:
    used = len(c.encode_account(item["name"], item["expected"]))
    for n in range(used):
        with pytest.raises(DecodeError):
            c.decode_account(item["data"][:n])
    assert c.decode_account(item["data"][:used]).fields == item["expected"]


def _event(name: str) -> dict[str, Any]:
    return next(i for i in EVENTS if i["name"] == name)


def test_invalid_values_inside_valid_lengths(c: Codec) -> None:
    pause = _event("PauseChanged")["data"]
    bad_bool = pause[:-9] + b"\x02" + pause[-8:]
    with pytest.raises(DecodeError, match="invalid bool"):
        c.decode_event(bad_bool)

    # TrainRequested.params.start_fresh is the byte before the i64 timestamp: both values
    # decode (the fixture holds a continuation and a fresh start), any other byte is refused.
    requested = [i for i in EVENTS if i["name"] == "TrainRequested"]
    assert {i["expected"]["params"]["start_fresh"] for i in requested} == {False, True}
    for item in requested:
        flag = len(item["data"]) - 9
        assert item["data"][flag] == int(item["expected"]["params"]["start_fresh"])
        assert c.decode_event(item["data"]).fields == item["expected"]
        for bad in (2, 0x80, 0xFF):
            with pytest.raises(DecodeError, match=f"invalid bool byte {bad}"):
                c.decode_event(item["data"][:flag] + bytes([bad]) + item["data"][flag + 1 :])

    created = _event("MirrorCreated")
    data = created["data"]
    vis = len(data) - 9  # visibility byte before the i64 timestamp
    assert data[vis] in (0, 1)
    with pytest.raises(DecodeError, match="invalid Visibility variant index 7"):
        c.decode_event(data[:vis] + b"\x07" + data[vis + 1 :])

    name_at = 8 + 32 * 3 + 8  # after mirror, creator, owner, mirror_id
    huge = data[:name_at] + struct.pack("<I", 0xFFFFFFF0) + data[name_at + 4 :]
    with pytest.raises(DecodeError, match="string length"):
        c.decode_event(huge)
    (n,) = struct.unpack_from("<I", data, name_at)
    bad_utf8 = data[: name_at + 4] + b"\xff" + data[name_at + 5 :]
    assert n > 0
    with pytest.raises(DecodeError, match="UnicodeDecodeError"):
        c.decode_event(bad_utf8)

    update = next(i for i in INSTRUCTIONS if i["name"] == "update_mirror")["data"]
    with pytest.raises(DecodeError, match="invalid option tag 2"):
        c.decode_instruction(update[:8] + b"\x02" + update[9:])


def test_random_garbage_only_raises_decode_error(c: Codec) -> None:
    rng = random.Random(1234)
    samples = [i["data"] for i in ITEMS if len(i["data"]) > 8]
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(8, len(data))
            data[pos] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(8, len(data)) :]
        for decode in (c.decode_event, c.decode_account, c.decode_instruction):
            try:
                decode(data)
            except DecodeError:
                pass
    for _ in range(500):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        for decode in (c.decode_event, c.decode_account, c.decode_instruction):
            with pytest.raises(DecodeError):
                decode(noise)


def test_decode_accepts_bytes_like_but_not_str(c: Codec) -> None:
    data = EVENTS[0]["data"]
    assert c.decode_event(bytearray(data)) == c.decode_event(memoryview(data)) == c.decode_event(data)
    with pytest.raises(TypeError):
        c.decode_event(EVENTS[0]["data_b64"])


# --- encoding errors -------------------------------------------------------------


def _create_args(**over: Any) -> dict[str, Any]:
    args = {"mirror_id": 1, "name": "n", "metadata_uri": "", "visibility": "Public"}
    args.update(over)
    return args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_create_args(mirror_id="1"), "mirror_id: expected int for u64, got str"),
        (_create_args(mirror_id=True), "mirror_id: expected int for u64, got bool"),
        (_create_args(mirror_id=-1), "mirror_id: -1 out of range for u64"),
        (_create_args(mirror_id=2**64), "out of range for u64"),
        (_create_args(name=b"n"), "name: expected str, got bytes"),
        (_create_args(visibility="Secret"), "unknown Visibility variant 'Secret'"),
        (_create_args(visibility=0), "expected a Visibility variant name"),
        ({"mirror_id": 1, "name": "n", "visibility": "Public"}, "missing metadata_uri"),
        (_create_args(extra=1), "unexpected extra"),
    ],
)
def test_encode_wrong_types_are_clear_errors(c: Codec, args: dict[str, Any], message: str) -> None:
    with pytest.raises(EncodeError) as err:
        c.encode_instruction("create_mirror", args)
    assert message in str(err.value)


def test_encode_nested_and_other_type_errors(c: Codec) -> None:
    params = {"epochs": 70000, "seq_len": 64, "batch_size": 8, "learning_rate_micros": 3000, "start_fresh": False}
    with pytest.raises(EncodeError) as err:
        c.encode_instruction("request_training", {"dataset_cid": "x", "params": params})
    assert err.value.path == ["params", "epochs"]
    assert str(err.value) == "params.epochs: 70000 out of range for u16"
    with pytest.raises(EncodeError, match="expected a dict for TrainingParams"):
        c.encode_instruction("request_training", {"dataset_cid": "x", "params": [1, 2, 3, 4]})
    with pytest.raises(EncodeError, match="paused: expected bool, got int"):
        c.encode_instruction("set_paused", {"paused": 1})
    with pytest.raises(EncodeError, match="invalid base58 pubkey"):
        c.encode_instruction("transfer_mirror", {"new_owner": "not-a-key"})
    with pytest.raises(EncodeError, match="pubkey must be 32 bytes"):
        c.encode_instruction("transfer_mirror", {"new_owner": b"\x00" * 31})
    with pytest.raises(EncodeError, match=r"\[u8; 32\] needs 32 bytes, got 31"):
        c.encode_instruction("register_trainer", {"authority": PROGRAM_ID, "encryption_key": "00" * 31})
    with pytest.raises(EncodeError, match="invalid hex"):
        c.encode_instruction("register_trainer", {"authority": PROGRAM_ID, "encryption_key": "zz" * 32})
    with pytest.raises(EncodeError, match="visibility: unknown Visibility"):
        c.encode_instruction("update_mirror", {"name": None, "metadata_uri": None, "visibility": "public"})
    with pytest.raises(CodecError, match="no event named"):
        c.encode_event("Nope", {})
    with pytest.raises(EncodeError, match="needs 106 bytes"):  # 8 + Config::INIT_SPACE
        c.encode_account("Config", c.decode_account(_account("Config")["data"]).fields, size=10)


def _account(name: str) -> dict[str, Any]:
    return next(i for i in ACCOUNTS if i["name"] == name)


def test_encode_accepts_solders_and_bytes_forms(c: Codec) -> None:
    key = Pubkey.new_unique()
    raw = bytes(range(32))
    as_json = c.encode_instruction("register_trainer", {"authority": str(key), "encryption_key": raw.hex()})
    assert c.encode_instruction("register_trainer", {"authority": key, "encryption_key": raw}) == as_json
    assert c.encode_instruction("register_trainer", {"authority": bytes(key), "encryption_key": list(raw)}) == as_json
    assert c.decode_instruction(as_json) == ("register_trainer", {"authority": str(key), "encryption_key": raw.hex()})


# --- every IDL type, on a synthetic IDL ---------------------------------------------

SYNTH_IDL = {
    "address": PROGRAM_ID,
    "metadata": {"name": "synth", "version": "0.0.0", "spec": "0.1.0"},
    "instructions": [],
    "accounts": [],
    "events": [{"name": "Everything", "discriminator": [1, 2, 3, 4, 5, 6, 7, 8]}],
    "types": [
        {
            "name": "Everything",
            "type": {
                "kind": "struct",
                "fields": [
                    {"name": "a_bool", "type": "bool"},
                    {"name": "a_u8", "type": "u8"},
                    {"name": "a_i8", "type": "i8"},
                    {"name": "a_u16", "type": "u16"},
                    {"name": "a_i16", "type": "i16"},
                    {"name": "a_u32", "type": "u32"},
                    {"name": "a_i32", "type": "i32"},
                    {"name": "a_u64", "type": "u64"},
                    {"name": "a_i64", "type": "i64"},
                    {"name": "a_u128", "type": "u128"},
                    {"name": "a_i128", "type": "i128"},
                    {"name": "a_f32", "type": "f32"},
                    {"name": "a_f64", "type": "f64"},
                    {"name": "a_string", "type": "string"},
                    {"name": "a_pubkey", "type": "pubkey"},
                    {"name": "a_bytes", "type": "bytes"},
                    {"name": "a_u8_array", "type": {"array": ["u8", 4]}},
                    {"name": "a_u16_array", "type": {"array": ["u16", 3]}},
                    {"name": "a_vec", "type": {"vec": "string"}},
                    {"name": "an_option", "type": {"option": "u32"}},
                    {"name": "nested_option", "type": {"option": {"vec": {"defined": {"name": "Point"}}}}},
                    {"name": "a_tuple", "type": {"defined": {"name": "Pair"}}},
                    {"name": "shapes", "type": {"vec": {"defined": {"name": "Shape"}}}},
                    {"name": "a_tree", "type": {"defined": {"name": "Tree"}}},
                    {"name": "an_alias", "type": {"defined": {"name": "Meters"}}},
                ],
            },
        },
        {
            "name": "Point",
            "type": {"kind": "struct", "fields": [{"name": "x", "type": "i32"}, {"name": "y", "type": "i32"}]},
        },
        {"name": "Pair", "type": {"kind": "struct", "fields": ["u8", "string"]}},
        {
            "name": "Shape",
            "type": {
                "kind": "enum",
                "variants": [
                    {"name": "Empty"},
                    {
                        "name": "Circle",
                        "fields": [{"name": "center", "type": {"defined": {"name": "Point"}}}, {"name": "r", "type": "u16"}],
                    },
                    {"name": "Line", "fields": [{"defined": {"name": "Point"}}, {"defined": {"name": "Point"}}]},
                ],
            },
        },
        {
            "name": "Tree",
            "type": {
                "kind": "struct",
                "fields": [
                    {"name": "label", "type": "string"},
                    {"name": "children", "type": {"vec": {"defined": {"name": "Tree"}}}},
                ],
            },
        },
        {"name": "Meters", "type": {"kind": "type", "alias": "u64"}},
    ],
    "constants": [],
}

EVERYTHING = {
    "a_bool": True,
    "a_u8": 255,
    "a_i8": -128,
    "a_u16": 65535,
    "a_i16": -32768,
    "a_u32": 2**32 - 1,
    "a_i32": -(2**31),
    "a_u64": 2**64 - 1,
    "a_i64": -(2**63),
    "a_u128": 2**128 - 1,
    "a_i128": -(2**127),
    "a_f32": 1.5,
    "a_f64": -2.25e300,
    "a_string": "héllo ✨",
    "a_pubkey": PROGRAM_ID,
    "a_bytes": "00ff10",
    "a_u8_array": "deadbeef",
    "a_u16_array": [1, 2, 65535],
    "a_vec": ["", "x"],
    "an_option": None,
    "nested_option": [{"x": -1, "y": 2}],
    "a_tuple": [7, "seven"],
    "shapes": [
        "Empty",
        {"Circle": {"center": {"x": 0, "y": 0}, "r": 5}},
        {"Line": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]},
    ],
    "a_tree": {"label": "root", "children": [{"label": "leaf", "children": []}]},
    "an_alias": 42,
}


def test_every_idl_type_round_trips_with_borsh_layout() -> None:
    s = Codec(SYNTH_IDL)
    data = s.encode_event("Everything", EVERYTHING)
    assert s.decode_event(data).fields == EVERYTHING
    # Spot-check the Borsh layout by hand.
    expected_head = (
        bytes(range(1, 9))
        + b"\x01\xff\x80"
        + struct.pack("<HhIiQq", 65535, -32768, 2**32 - 1, -(2**31), 2**64 - 1, -(2**63))
        + b"\xff" * 16
        + (-(2**127)).to_bytes(16, "little", signed=True)
        + struct.pack("<fd", 1.5, -2.25e300)
        + struct.pack("<I", len("héllo ✨".encode()))
        + "héllo ✨".encode()
        + bytes(Pubkey.from_string(PROGRAM_ID))
        + b"\x03\x00\x00\x00\x00\xff\x10"
        + bytes.fromhex("deadbeef")
        + struct.pack("<3H", 1, 2, 65535)
        + b"\x02\x00\x00\x00"
        + b"\x00\x00\x00\x00"
        + b"\x01\x00\x00\x00x"
        + b"\x00"  # None
        + b"\x01\x01\x00\x00\x00"
        + struct.pack("<ii", -1, 2)
        + b"\x07\x05\x00\x00\x00seven"
        + b"\x03\x00\x00\x00"
        + b"\x00"
        + b"\x01"
        + struct.pack("<iiH", 0, 0, 5)
        + b"\x02"
        + struct.pack("<iiii", 1, 1, 2, 2)
    )
    assert data.startswith(expected_head)
    assert s.encode_type({"defined": {"name": "Meters"}}, 42) == struct.pack("<Q", 42)
    assert s.decode_type({"option": "u8"}, b"\x01\x09") == 9
    assert s.decode_type({"coption": "u8"}, b"\x00\x00\x00\x00") is None
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            s.decode_event(data[:n])


@pytest.mark.parametrize(
    ("idl_type", "value", "message"),
    [
        ("u128", -1, "out of range for u128"),
        ("i128", 2**127, "out of range for i128"),
        ("f32", 1e39, "out of range for f32"),
        ("f64", float("nan"), "NaN"),
        ("f64", "1.0", "expected float"),
        ("bytes", 5, "expected hex str or bytes"),
        ({"array": ["u16", 2]}, [1], "expected 2 items, got 1"),
        ({"array": ["u16", 2]}, [1, -1], "[1]: -1 out of range for u16"),
        ({"vec": "u8"}, "abc", "expected a list"),
        ({"defined": {"name": "Shape"}}, "Circle", "Shape::Circle needs its fields"),
        ({"defined": {"name": "Shape"}}, {"Empty": {"x": 1}}, "Shape::Empty has no fields"),
        ({"defined": {"name": "Shape"}}, {"Line": [{"x": 1, "y": 1}]}, "Line: expected a list of 2 items"),
        ({"defined": {"name": "Pair"}}, [1, 2], "[1]: expected str, got int"),
    ],
)
def test_synthetic_encode_errors(idl_type: Any, value: Any, message: str) -> None:
    s = Codec(SYNTH_IDL)
    with pytest.raises(EncodeError) as err:
        s.encode_type(idl_type, value)
    assert message in str(err.value)


def test_synthetic_decode_errors() -> None:
    s = Codec(SYNTH_IDL)
    with pytest.raises(DecodeError, match="invalid Shape variant index 3"):
        s.decode_type({"defined": {"name": "Shape"}}, b"\x03")
    with pytest.raises(DecodeError, match="NaN"):
        s.decode_type("f64", struct.pack("<d", float("nan")))
    with pytest.raises(DecodeError, match="vec length"):
        s.decode_type({"vec": "u64"}, struct.pack("<I", 2) + bytes(15))
    with pytest.raises(DecodeError, match="bytes length"):
        s.decode_type("bytes", struct.pack("<I", 5) + bytes(4))
    with pytest.raises(DecodeError, match="trailing"):
        s.decode_type("u8", b"\x01\x02")


def test_unsupported_idl_types_fail_at_load() -> None:
    for bad in ({"generic": "T"}, "u256", {"array": ["u8", {"generic": "N"}]}, {"defined": {"name": "Missing"}}):
        idl = json.loads(json.dumps(SYNTH_IDL))
        idl["types"][1]["type"]["fields"][0]["type"] = bad
        with pytest.raises(IdlError):
            Codec(idl)


# --- speed -----------------------------------------------------------------------


def test_decodes_well_over_5000_events_per_second(c: Codec) -> None:
    payloads = [i["data"] for i in EVENTS]
    n = 20_000
    start = time.perf_counter()
    for k in range(n):
        c.decode_event(payloads[k % len(payloads)])
    rate = n / (time.perf_counter() - start)
    assert rate > 5_000, f"{rate:.0f} events/s"


# --- logs.py ---------------------------------------------------------------------

OTHER = "Other11111111111111111111111111111111111111"
SYSTEM = "11111111111111111111111111111111"
BUDGET = "ComputeBudget111111111111111111111111111111"


def _data_line(data: bytes) -> str:
    return "Program data: " + base64.b64encode(data).decode()


def test_logs_keep_only_the_programs_own_frames() -> None:
    ours = [i["data"] for i in EVENTS[:4]]
    foreign = b"foreign event bytes"
    logs = [
        f"Program {BUDGET} invoke [1]",
        f"Program {BUDGET} success",
        # Another program at top level emits data, then CPIs into ours.
        f"Program {OTHER} invoke [1]",
        _data_line(foreign),
        f"Program {PROGRAM_ID} invoke [2]",
        "Program log: Instruction: CreateMirror",
        f"Program {SYSTEM} invoke [3]",
        f"Program {SYSTEM} success",
        _data_line(ours[0]),
        f"Program {PROGRAM_ID} consumed 6150 of 190000 compute units",
        f"Program {PROGRAM_ID} success",
        _data_line(foreign),
        "Program log: Program data: " + base64.b64encode(foreign).decode(),  # a msg!, not data
        f"Program {OTHER} success",
        # Ours at top level; it CPIs into another program that emits data.
        f"Program {PROGRAM_ID} invoke [1]",
        _data_line(ours[1]),
        f"Program {OTHER} invoke [2]",
        _data_line(foreign),
        f"Program return: {OTHER} AQID",
        f"Program {OTHER} success",
        _data_line(ours[2]),
        f"Program {PROGRAM_ID} success",
        f"Program {PROGRAM_ID} invoke [1]",
        _data_line(ours[3][:8]) + " " + base64.b64encode(ours[3][8:]).decode(),  # two-part sol_log_data
        f"Program {PROGRAM_ID} success",
    ]
    result = extract_program_data(logs, PROGRAM_ID)
    assert result.data == ours
    assert [(p.instruction_index, p.depth) for p in result.payloads] == [(1, 2), (2, 1), (2, 1), (3, 1)]
    assert not result.truncated
    assert [codec.decode_event(d).name for d in result.data] == [i["name"] for i in EVENTS[:4]]
    assert extract_program_data(logs, Pubkey.from_string(PROGRAM_ID)) == result
    assert extract_program_data(logs, OTHER).data == [foreign, foreign, foreign]


def test_logs_with_a_failed_inner_program_and_truncation() -> None:
    ev = EVENTS[0]["data"]
    logs = [
        f"Program {PROGRAM_ID} invoke [1]",
        _data_line(ev),
        f"Program {OTHER} invoke [2]",
        _data_line(b"inner"),
        f"Program {OTHER} consumed 100 of 1000 compute units",
        f"Program {OTHER} failed: custom program error: 0x1",
        _data_line(ev),  # back in our frame
        f"Program {PROGRAM_ID} consumed 900 of 200000 compute units",
        f"Program {PROGRAM_ID} failed: custom program error: 0x1",
        _data_line(b"orphan"),  # no frame: ignored
        f"Program {OTHER} invoke [1]",
        f"Program {PROGRAM_ID} invoke [2]",
        _data_line(ev),
        LOG_TRUNCATED,
    ]
    result = extract_program_data(logs, PROGRAM_ID)
    assert result.data == [ev, ev, ev]
    assert [(p.instruction_index, p.depth) for p in result.payloads] == [(0, 1), (0, 1), (1, 2)]
    assert result.truncated
    assert is_truncated(logs)
    assert not is_truncated(logs[:-1])
    assert extract_program_data(logs, OTHER).data == [b"inner"]


def test_logs_edge_cases() -> None:
    assert extract_program_data(None, PROGRAM_ID).payloads == ()
    assert extract_program_data([], PROGRAM_ID).truncated is False
    # A frame whose end was never logged is replaced by the next invoke at its depth.
    logs = [
        f"Program {PROGRAM_ID} invoke [1]",
        f"Program {OTHER} invoke [2]",
        f"Program {PROGRAM_ID} invoke [1]",
        _data_line(b"x"),
    ]
    assert [(p.data, p.instruction_index) for p in extract_program_data(logs, PROGRAM_ID).payloads] == [(b"x", 1)]
    with pytest.raises(LogFormatError):
        extract_program_data([f"Program {PROGRAM_ID} invoke [1]", "Program data: !!!"], PROGRAM_ID)
