"""POST /graphql over HTTP: an ordinary request (JSON object, string query) takes the app's direct
path (``app.GraphQLPost``: context getter, then ``schema.execute``); every other shape goes to
Strawberry's view. Whichever path a request takes, the answer is the one the view gives: the
same data, the same refusals, integers read exactly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from mirror_common.pg import create_pool
from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, seed

MIRROR = "query($a: Address!) { mirror(address: $a) { address name jobCount createdAt } }"


@pytest.fixture(scope="module")
async def api(postgres: Postgres, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[ApiProcess, str]]:
    database = await create_database(postgres.url)
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        first = (await seed(conn, mirrors=3, owner=address()))[0]
    await pool.close()
    proc = ApiProcess(database, redis_server.url, tmp_path_factory.mktemp("api")).start()
    yield proc, first
    proc.stop()


def post(api: ApiProcess, body: bytes, content_type: str = "application/json", **headers: str) -> httpx.Response:
    return httpx.post(f"{api.url}/graphql", content=body, headers={"content-type": content_type, **headers}, timeout=30)


async def test_every_shape_of_the_same_request_gets_the_same_answer(api: tuple[ApiProcess, str]) -> None:
    proc, first = api
    body = {"query": MIRROR, "variables": {"a": first}}
    plain = post(proc, json.dumps(body).encode(), **{"x-request-id": "http-test-1"})
    assert plain.status_code == 200 and plain.headers["x-request-id"] == "http-test-1"
    assert plain.json() == {"data": {"mirror": {"address": first, "name": "mirror 2", "jobCount": "1", "createdAt": "1700000002"}}}
    variants = [
        post(proc, json.dumps(body).encode(), "application/json; charset=utf-8"),
        post(proc, json.dumps(body).encode("utf-16")),  # not UTF-8: the view's JSON reader, not the direct path's
        post(proc, json.dumps({**body, "variables": {"a": first, "unused": 1.5}}).encode()),  # a float: the view's too
        post(proc, json.dumps({**body, "operationName": None, "extensions": {}}).encode()),
    ]
    for r in variants:
        assert (r.status_code, r.json()) == (200, plain.json()), r.text


async def test_integers_past_64_bits_are_refused_as_out_of_range_not_misread(api: tuple[ApiProcess, str]) -> None:
    """A JSON number past 64 bits is an exact integer to the view's reader (orjson would read a float)."""
    proc, _ = api
    q = "query($s: I64) { events(filter: {fromSlot: $s}) { totalCount } }"
    for value in (2**70, -(2**70), 2**63):
        r = post(proc, json.dumps({"query": q, "variables": {"s": value}}).encode())
        assert r.status_code == 200 and "I64 out of range" in r.json()["errors"][0]["message"], r.text
    r = post(proc, json.dumps({"query": q, "variables": {"s": 2**63 - 1}}).encode())
    assert r.json() == {"data": {"events": {"totalCount": 0}}}


async def test_malformed_requests_get_the_views_json_errors(api: tuple[ApiProcess, str]) -> None:
    proc, _ = api
    cases = [
        (b'{"query": "{ config { admin } }"}', "text/plain", "Unsupported content type"),
        (b"{not json", "application/json", "Unable to parse request body as JSON"),
        (b'[{"query": "{ config { admin } }"}]', "application/json", "Batching is not enabled"),
        (b'{"variables": {}}', "application/json", "No GraphQL query found in the request"),
        (b'{"query": null}', "application/json", "No GraphQL query found in the request"),
        (b'{"query": "{ config { admin } }", "variables": []}', "application/json", "`variables` must be an object or null"),
        (b'{"query": "query A { config { admin } }", "operationName": "B"}', "application/json", 'Unknown operation named "B"'),
    ]
    for body, content_type, message in cases:
        r = post(proc, body, content_type)
        assert r.status_code == 400 and message in r.json()["errors"][0]["message"], (body, r.status_code, r.text)


async def test_a_bad_token_is_refused_before_anything_runs(api: tuple[ApiProcess, str]) -> None:
    proc, first = api
    r = post(proc, json.dumps({"query": MIRROR, "variables": {"a": first}}).encode(), authorization="Bearer not-a-token")
    assert r.status_code == 401 and r.json()["error"] == "token_invalid"


async def test_a_subscription_over_post_is_told_where_subscriptions_are_served(api: tuple[ApiProcess, str]) -> None:
    """Not a masked "Unexpected error.": the client sent a subscription to the HTTP endpoint, and is told so."""
    proc, first = api
    body = {"query": "subscription($m: Address!) { events(filter: {mirror: $m}) { eventId } }", "variables": {"m": first}}
    answers = [
        post(proc, json.dumps(body).encode()),  # the direct path
        post(proc, json.dumps(body).encode(), accept="application/graphql-response+json"),
        post(proc, json.dumps(body).encode("utf-16")),  # the view
    ]
    for r in answers:
        assert r.status_code == 400, r.text
        assert r.json()["errors"][0]["message"] == "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql", r.text
