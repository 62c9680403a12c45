"""The API process fuzzed from its committed schema (hypothesis-graphql): valid documents and
documents with one schema violation, with hostile values for the custom scalars; then a list of
hostile requests, each one a bug found here (kept as a regression) or a shape of attack.

Every answer must be JSON with ``data`` or ``errors``, never a 500, never a trace or SQL, never a
masked "Unexpected error." (a healthy database and client input: a masked error is a bug in
how the API classifies bad input), and the server must keep answering."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, nodes, queries

from graphql_api.schema import SCHEMA_FILE
from mirror_common.pg import create_pool
from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, seed

OWNER = address()
GRANTEE = address()
TRACE_MARKERS = ("Traceback", 'File "', "asyncpg", "SQL", "syntax error at")
I64_MAX = 2**63 - 1


@pytest.fixture(scope="module")
async def api(postgres: Postgres, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiProcess]:
    database = await create_database(postgres.url)
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await seed(conn, mirrors=6, owner=OWNER, grantee=GRANTEE, private_every=3, jobs=2)
    await pool.close()
    # No rate limit: the fuzzer sends hundreds of requests a minute from one address.
    proc = ApiProcess(database, redis_server.url, tmp_path_factory.mktemp("api-fuzz"), API_RATE_IP="0", API_RATE_WALLET="0").start()
    yield proc
    proc.stop()


def check_answer(r: httpx.Response, sent: str) -> dict[str, Any]:
    """The fuzzer's oracle: a JSON GraphQL answer without internals. Returns the body."""
    assert r.status_code < 500, (r.status_code, r.text[:500], sent[:500])
    body = r.json()
    assert isinstance(body, dict), (body, sent[:500])
    assert "data" in body or "errors" in body, (body, sent[:500])
    for error in body.get("errors") or []:
        message = error["message"]
        # A marker the client itself sent (an echoed value) is not a leak.
        leaked = [m for m in TRACE_MARKERS if m in message and m not in sent]
        assert not leaked, (leaked, message, sent[:500])
        assert message != "Unexpected error.", ("client input was masked as a server error", sent[:500])
    return body


def still_serves(api: ApiProcess) -> None:
    r = httpx.post(f"{api.url}/graphql", json={"query": "{ mirrors(first: 1) { totalCount } }"}, timeout=10)
    assert r.status_code == 200 and r.json()["data"]["mirrors"]["totalCount"] == 4, r.text  # 6 mirrors, every 3rd private


def _string(values: st.SearchStrategy[Any]) -> st.SearchStrategy[graphql.ValueNode]:
    return values.map(nodes.String)


ADDRESSES = _string(
    st.one_of(
        st.sampled_from([OWNER, GRANTEE, "11111111111111111111111111111111"]),
        st.builds(address),
        st.text(max_size=50),
        st.text(alphabet="123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl", min_size=30, max_size=46),
    )
)
I64S = st.one_of(
    st.integers(-(2**63), I64_MAX).map(nodes.Int),
    st.integers(-(2**70), 2**70).map(str).map(nodes.String),
    _string(st.text(max_size=25)),
    st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
)
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {"Address": ADDRESSES, "I64": I64S}
SDL = SCHEMA_FILE.read_text()
DOCUMENTS = st.one_of(
    queries(SDL, custom_scalars=SCALARS, mode=Mode.POSITIVE),
    queries(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)
@given(document=DOCUMENTS)
def test_documents_from_the_schema_never_break_the_server(api: ApiProcess, document: str) -> None:
    r = httpx.post(f"{api.url}/graphql", json={"query": document}, timeout=30)
    check_answer(r, document)


def test_the_server_still_serves_after_the_fuzzer(api: ApiProcess) -> None:
    still_serves(api)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _fragment_bomb(levels: int, spreads: int) -> str:
    """Each fragment spreads the next ``spreads`` times: spreads**levels fields once expanded."""
    frags = [f"fragment F{i} on Mirror {{ {' '.join([f'...F{i + 1}'] * spreads)} }}" for i in range(levels)]
    return "{ mirrors { edges { node { ...F0 } } } } " + " ".join(frags) + f" fragment F{levels} on Mirror {{ name }}"


def _alias_bomb(levels: int) -> str:
    """Ten aliases in the last fragment, multiplied by two spreads per level."""
    frags = [f"fragment A{i} on Mirror {{ ...A{i + 1} ...A{i + 1} }}" for i in range(levels)]
    leaf = " ".join(f"n{j}: name" for j in range(10))
    return "{ mirrors { edges { node { ...A0 } } } } " + " ".join(frags) + f" fragment A{levels} on Mirror {{ {leaf} }}"


NUL_NAME_CURSOR = _b64(json.dumps(["NAME_ASC", ["a\x00b", address()]]))
MIRRORS_AFTER = "query($c: String) { mirrors(orderBy: NAME_ASC, after: $c) { totalCount } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"

# (name, the request's JSON body or raw bytes, a part of an error message it must get; None: any error)
HOSTILE: list[tuple[str, Any, str | None]] = [
    # Found here: exponential time in Strawberry's depth/alias limiters and the cost estimate (a CPU DoS of the
    # single event loop: 20 levels x 2 spreads took 10 s, 30 x 3 would never end). Now measured once per fragment.
    ("fragment bomb", {"query": _fragment_bomb(30, 3)}, "query cost"),
    ("alias bomb through fragments", {"query": _alias_bomb(12)}, "aliases found"),
    ("a fragment spreading itself", {"query": "{ mirrors { edges { node { ...A } } } } fragment A on Mirror { name ...A }"}, "A"),
    ("deep nesting", {"query": "{ mirrors " + "{ edges " * 700 + "}" * 701}, "nested too deeply"),
    ("deep list literal", {"query": '{ mirror(address: "' + "[" * 1500 + '") { name } }'}, None),
    # Found here: bodies Strawberry's JSON parsing let through as a 500.
    (
        "JSON nested past the recursion limit",
        b'{"query": "{ config { admin } }", "variables": {"a": ' + b"[" * 30000 + b"]" * 30000 + b"}}",
        "JSON",
    ),
    ("a JSON string instead of an object", b'"{ config { admin } }"', "JSON"),
    ("bytes that are not UTF-8", b'{"query": "\xff\xfe"}', "JSON"),
    ("a number past int()'s 4300 digits", b'{"query": "{ config { admin } }", "variables": {"n": ' + b"9" * 5000 + b"}}", "JSON"),
    ("truncated JSON", b'{"query": "{ config', "JSON"),
    # Found here: a literal past int()'s 4300 digits raised inside the cost estimate (Python's message, no GraphQL error).
    ("a page size of 5000 digits", {"query": "{ mirrors(first: " + "9" * 5000 + ") { totalCount } }"}, "Expected value of type 'Int'"),
    # Found here: U+0000 reached PostgreSQL (which refuses it in text) and came back as a masked server error.
    (
        "U+0000 in nameContains",
        {"query": "query($n: String) { mirrors(filter: {nameContains: $n}) { totalCount } }", "variables": {"n": "a\x00"}},
        "U+0000",
    ),
    ("U+0000 in event names", {"query": 'query { events(filter: {names: ["a\\u0000"]}) { totalCount } }'}, "U+0000"),
    ("U+0000 in a node id", {"query": NODE, "variables": {"id": _b64("Mirror:a\x00")}}, "invalid id"),
    ("U+0000 inside a well-formed cursor", {"query": MIRRORS_AFTER, "variables": {"c": NUL_NAME_CURSOR}}, "invalid cursor"),
    # Found here: event ids past i64 and non-ASCII digits reached SQL or int() (masked); Python's int() message for I64.
    ("an event id past i64", {"query": NODE, "variables": {"id": _b64(f"ChainEvent:{I64_MAX + 1}")}}, "invalid id"),
    ("an event id of a superscript digit", {"query": NODE, "variables": {"id": _b64("ChainEvent:\u00b2")}}, "invalid id"),
    (
        "I64 of a superscript digit",
        {"query": "query($s: I64) { events(filter: {fromSlot: $s}) { totalCount } }", "variables": {"s": "\u00b2"}},
        "I64 must be a decimal integer",
    ),
    # Shapes of attack the API already refused; kept so that they stay refused.
    ("alias flood", {"query": "{ " + " ".join(f"a{i}: config {{ admin }}" for i in range(500)) + " }"}, None),
    (
        "huge variable",
        {"query": "query($n: String) { mirrors(filter: {nameContains: $n}) { totalCount } }", "variables": {"n": "x" * 90_000}},
        "64",
    ),
    (
        "unknown enum value in a variable",
        {"query": "query($o: MirrorOrder!) { mirrors(orderBy: $o) { totalCount } }", "variables": {"o": "NOPE"}},
        "NOPE",
    ),
    ("an address of 31 bytes", {"query": 'query { mirror(address: "' + "2" * 43 + '") { name } }'}, "base58"),
    ("an address with 0, O, I, l", {"query": 'query { mirror(address: "0OIl' + "1" * 40 + '") { name } }'}, "base58"),
    ("a cursor of the wrong types", {"query": MIRRORS_AFTER, "variables": {"c": _b64(json.dumps(["NAME_ASC", [1, 2]]))}}, "invalid cursor"),
    ("a cursor of 2000 characters", {"query": MIRRORS_AFTER, "variables": {"c": "A" * 2000}}, "invalid cursor"),
    ("NaN for an Int", b'{"query": "query($f: Int) { mirrors(first: $f) { totalCount } }", "variables": {"f": NaN}}', "non-integer"),
    ("a batch", [{"query": "{ config { admin } }"}] * 3, "Batching"),
    ("variables that are a list", {"query": "{ config { admin } }", "variables": [1]}, "variables"),
    ("a mutation", {"query": "mutation { x }"}, "mutation"),
]


@pytest.mark.parametrize(("name", "body", "expected"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_requests_get_a_clear_refusal(api: ApiProcess, name: str, body: Any, expected: str | None) -> None:
    if isinstance(body, bytes):
        r = httpx.post(f"{api.url}/graphql", content=body, headers={"content-type": "application/json"}, timeout=30)
        sent = body.decode(errors="replace")
    else:
        r = httpx.post(f"{api.url}/graphql", json=body, timeout=30)
        sent = json.dumps(body)
    answer = check_answer(r, sent)
    messages = [e["message"] for e in answer.get("errors") or []]
    assert messages, (name, r.status_code, answer)
    if expected is not None:
        assert any(expected in m for m in messages), (name, messages)
    still_serves(api)
