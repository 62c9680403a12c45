"""The API's protection layer, each part against real API processes, PostgreSQL and Redis,
configured through its environment: rate limits per IP and per wallet (one atomic counter in
Redis, shared by processes), CORS, IP allow/deny lists (HTTP and WebSocket), TLS, and the
request id in answers, logs and audit rows.

Other client addresses are real: Linux routes all of 127.0.0.0/8 to loopback, so a client
bound to 127.0.0.2 reaches the API on 127.0.0.1 as another host."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
import trustme
import websockets
from gql import Client, gql
from gql.transport.httpx import HTTPXAsyncTransport
from solders.keypair import Keypair
from websockets.exceptions import InvalidStatus

from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, sign_in

QUERY = {"query": "{ __typename }"}
OTHER_HOST = "127.0.0.2"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
async def database(postgres: Postgres) -> str:
    return await create_database(postgres.url)


@pytest.fixture
def redis_url(redis_server: Redis) -> str:
    """A Redis database of this module's own, emptied: no rate-limit window left by another test."""
    url = redis_server.url.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture
def start(database: str, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., ApiProcess]]:
    """Starts API processes on the module's database and the test's Redis; stops them after the test."""
    started: list[ApiProcess] = []

    def start_api(*, ready: tuple[int, ...] = (200, 503), verify: Any = True, **env: str) -> ApiProcess:
        home = Path(tempfile.mkdtemp(prefix="api", dir=tmp_path))  # may run in several threads at once
        api = ApiProcess(database, redis_url, home, **env)
        started.append(api)
        return api.start(ready=ready, verify=verify)

    yield start_api
    for api in started:
        api.stop()


@pytest.fixture(scope="module")
def plain(database: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """An API with the default settings, but no IP limit (tests of other parts share it)."""
    api = ApiProcess(database, redis_server.url.rsplit("/", 1)[0] + "/8", tmp_path_factory.mktemp("api-plain"), API_RATE_IP="0").start()
    yield api
    api.stop()


@pytest.fixture
async def db(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    yield conn
    await conn.close()


def post(
    api: ApiProcess, body: dict[str, Any] = QUERY, client: httpx.Client | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    send = client.post if client is not None else httpx.post
    return send(f"{api.url}/graphql", json=body, headers=headers or {}, timeout=30)


def from_host(ip: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=ip), timeout=30)


def post_me(api: ApiProcess, token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/graphql", json={"query": "{ me { wallet } }"}, headers={"Authorization": f"Bearer {token}", **headers}, timeout=30
    )


def assert_rate_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, (r.status_code, r.text)
    assert r.json()["error"] == "rate_limited", r.text
    assert 1 <= int(r.headers["retry-after"]) <= 60, r.headers


def log_line(api: ApiProcess, **fields: Any) -> dict[str, Any]:
    """The API's first JSON log line carrying ``fields``, waiting for it a moment (the log is another process's file)."""
    deadline = time.monotonic() + 10
    while True:
        for line in api.log().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if all(entry.get(k) == v for k, v in fields.items()):
                    return dict(entry)
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line with {fields} in:\n{api.log()[-3000:]}")
        time.sleep(0.1)


def refusals(api: ApiProcess, reason: str) -> float:
    metrics = httpx.get(f"{api.url}/metrics").text
    match = re.search(rf'^mirror_api_refusals_total\{{reason="{reason}"\}} (\S+)$', metrics, re.M)
    return float(match.group(1)) if match else 0.0


async def test_the_request_past_the_ip_limit_gets_429_with_retry_after_and_one_audit_row(
    start: Callable[..., ApiProcess], db: asyncpg.Connection
) -> None:
    api = start(API_RATE_IP="5")
    for i in range(5):
        assert post(api, headers={"X-Request-ID": f"ip-ok-{i}"}).status_code == 200
    first = post(api, headers={"X-Request-ID": "ip-over-1"})
    assert_rate_limited(first)
    assert first.headers["x-request-id"] == "ip-over-1"
    assert_rate_limited(post(api, headers={"X-Request-ID": "ip-over-2"}))
    assert_rate_limited(httpx.post(f"{api.url}/auth/nonce", json={"address": address()}))  # /auth shares the address's counter
    # A WebSocket handshake over the limit gets the same answer, as HTTP (not a socket closed without a reason).
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(api.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 429 and 1 <= int(refused.value.response.headers["Retry-After"]) <= 60
    assert json.loads(refused.value.response.body)["error"] == "rate_limited"
    for _ in range(3):  # health and metrics are never limited
        assert httpx.get(f"{api.url}/healthz").status_code == 200
        assert httpx.get(f"{api.url}/metrics").status_code == 200
    with from_host(OTHER_HOST) as other:  # another address has a counter of its own
        assert post(api, client=other).status_code == 200
    # Every refusal is counted; one audit row stands for the run of refusals (a flood must not write a row each).
    assert refusals(api, "rate_limited") == 4
    rows = await db.fetch("SELECT * FROM api_audit WHERE action = 'rate_limited' AND ip = '127.0.0.1' AND request_id LIKE 'ip-%'")
    assert [(r["code"], r["request_id"], json.loads(r["detail"])) for r in rows] == [("rate_limited", "ip-over-1", {"scope": "ip"})]
    log_line(api, event="rate_limited", request_id="ip-over-1", scope="ip")
    # Behind a trusted proxy (X-Forwarded-For from 127.0.0.1) IPv6 clients count by their /64, which one host may pick addresses from.
    for i in range(5):
        assert post(api, headers={"X-Forwarded-For": f"2001:db8::{i + 1}"}).status_code == 200
    assert_rate_limited(post(api, headers={"X-Forwarded-For": "2001:db8::ffff"}))
    assert post(api, headers={"X-Forwarded-For": "2001:db8:0:1::1"}).status_code == 200


async def test_the_ip_limit_is_one_atomic_counter_across_api_processes(start: Callable[..., ApiProcess]) -> None:
    limit = 10
    with ThreadPoolExecutor() as pool:  # started side by side: each start is mostly waiting for imports
        apis = list(pool.map(lambda _: start(API_RATE_IP=str(limit)), range(2)))
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(*(client.post(f"{apis[i % 2].url}/graphql", json=QUERY) for i in range(3 * limit)))
    assert Counter(r.status_code for r in answers) == {200: limit, 429: 2 * limit}


async def test_the_wallet_limit_counts_each_signed_in_wallet_apart(start: Callable[..., ApiProcess], db: asyncpg.Connection) -> None:
    limit = 4
    api = start(API_RATE_IP="0", API_RATE_WALLET=str(limit))
    one, two, three = Keypair(), Keypair(), Keypair()
    first, second, third = (sign_in(api, kp) for kp in (one, two, three))
    for _ in range(limit):
        assert post_me(api, first).json()["data"]["me"]["wallet"] == str(one.pubkey())
    over = post_me(api, first, **{"X-Request-ID": "wallet-over"})
    assert_rate_limited(over)
    assert post_me(api, second).json()["data"]["me"]["wallet"] == str(two.pubkey())  # another wallet still passes
    for _ in range(limit + 2):  # anonymous requests have no wallet limit (and here no IP limit)
        assert post(api).status_code == 200
    row = await db.fetchrow("SELECT * FROM api_audit WHERE action = 'rate_limited' AND wallet = $1", str(one.pubkey()))
    assert row is not None and row["request_id"] == "wallet-over" and json.loads(row["detail"]) == {"scope": "wallet"}
    # 2N at once for one wallet: exactly N pass (the check and the count are one Lua script).
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"{api.url}/graphql", json={"query": "{ me { wallet } }"}, headers={"Authorization": f"Bearer {third}"})
                for _ in range(2 * limit)
            )
        )
    assert Counter(r.status_code for r in answers) == {200: limit, 429: limit}


def test_cors_answers_only_the_configured_origin(start: Callable[..., ApiProcess], plain: ApiProcess) -> None:
    app, evil = "https://app.example", "https://evil.example"

    def preflight(api: ApiProcess, origin: str) -> httpx.Response:
        return httpx.options(
            f"{api.url}/graphql",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )

    api = start(API_RATE_IP="0", API_CORS_ORIGINS=app)
    allowed = preflight(api, app)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == app
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(api, evil)
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    # A simple POST is answered (CORS is the browser's check), without the header that lets a page read it.
    assert "access-control-allow-origin" not in post(api, headers={"Origin": evil}).headers
    assert post(api, headers={"Origin": app}).headers["access-control-allow-origin"] == app
    # API_CORS_ORIGINS empty (the default): no cross-origin access at all.
    assert "access-control-allow-origin" not in preflight(plain, app).headers
    assert "access-control-allow-origin" not in post(plain, headers={"Origin": app}).headers


async def test_ip_lists_refuse_http_and_websocket_with_403(start: Callable[..., ApiProcess]) -> None:
    with ThreadPoolExecutor() as pool:
        allowing = pool.submit(start, API_RATE_IP="0", API_IP_ALLOW="127.0.0.1/32")
        denying = pool.submit(start, API_RATE_IP="0", API_IP_DENY=f"{OTHER_HOST}/32,2001:db8::/32")
        only_one, deny = allowing.result(), denying.result()
    assert post(only_one).status_code == 200
    with from_host(OTHER_HOST) as other:
        for r in (post(only_one, client=other), other.get(f"{only_one.url}/healthz")):
            assert r.status_code == 403 and r.json() == {"error": "ip_denied", "message": "this address may not use the API"}, r.text
        # X-Forwarded-For is believed only from a trusted proxy (uvicorn's FORWARDED_ALLOW_IPS, 127.0.0.1 by default).
        assert post(only_one, client=other, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    ws_url = only_one.url.replace("http", "ws") + "/graphql"
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"], local_addr=(OTHER_HOST, 0)):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 403 and json.loads(refused.value.response.body)["error"] == "ip_denied"
    async with websockets.connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"

    assert post(deny).status_code == 200
    with from_host(OTHER_HOST) as other:
        assert post(deny, client=other).status_code == 403
    # Through a trusted proxy the client behind it is judged: IPv6, and IPv4 written as IPv4-mapped IPv6 (a dual-stack proxy's habit).
    for client in (OTHER_HOST, "2001:db8::7", f"::ffff:{OTHER_HOST}"):
        assert post(deny, headers={"X-Forwarded-For": client}).status_code == 403, client
    assert post(deny, headers={"X-Forwarded-For": "2001:db9::7"}).status_code == 200


def _tls_files(tmp_path: Path) -> tuple[trustme.CA, Path, Path]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    for i, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    leaf.private_key_pem.write_to_path(str(key))
    return ca, cert, key


async def test_tls_serves_clients_that_trust_the_ca_only(start: Callable[..., ApiProcess], tmp_path: Path) -> None:
    ca, cert, key = _tls_files(tmp_path)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    api = start(verify=trusted, API_RATE_IP="0", API_TLS_CERT=str(cert), API_TLS_KEY=str(key))
    assert api.url.startswith("https://")
    transport = HTTPXAsyncTransport(url=f"{api.url}/graphql", verify=trusted, timeout=30)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        assert (await session.execute(gql("{ mirrors(first: 1) { totalCount } }")))["mirrors"]["totalCount"] == 0  # nothing seeded
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.post(f"{api.url}/graphql", json=QUERY)  # the system's CAs do not include this one
    # Plain HTTP to the TLS port: the handshake fails, no GraphQL answer.
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"{api.url.replace('https://', 'http://')}/graphql", json=QUERY, timeout=10).raise_for_status()


def test_half_a_tls_setting_stops_the_api_instead_of_serving_plain_http(database: str, redis_url: str, tmp_path: Path) -> None:
    _, cert, _ = _tls_files(tmp_path)
    api = ApiProcess(database, redis_url, tmp_path, API_TLS_CERT=str(cert))
    try:
        with pytest.raises(RuntimeError, match="API_TLS_CERT and API_TLS_KEY go together"):
            api.start()
    finally:
        api.stop()  # were it serving plain HTTP, start() gives up waiting but the process lives on


async def test_the_request_id_is_echoed_logged_and_audited_and_a_bad_one_replaced(plain: ApiProcess, db: asyncpg.Connection) -> None:
    api = plain
    r = httpx.post(f"{api.url}/auth/nonce", json={"address": "not-a-key"}, headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 401 and r.json()["error"] == "bad_request" and r.headers["x-request-id"] == "abc-123"
    assert log_line(api, event="refused", request_id="abc-123")["code"] == "bad_request"
    assert await db.fetchval("SELECT code FROM api_audit WHERE request_id = 'abc-123'") == "bad_request"
    for bad in ("x" * 200, "abc 123", "abc;123", ""):
        rid = post(api, headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert GENERATED_ID.match(rid) and rid != bad, (bad, rid)
    # An audit row keeps the checked id, never the raw header.
    raw = "y" * 200
    r = httpx.post(f"{api.url}/auth/nonce", json={"address": "not-a-key"}, headers={"X-Request-ID": raw})
    generated = r.headers["x-request-id"]
    assert GENERATED_ID.match(generated)
    assert await db.fetchval("SELECT count(*) FROM api_audit WHERE request_id = $1", generated) == 1
    assert await db.fetchval("SELECT count(*) FROM api_audit WHERE request_id = $1", raw) == 0
    # A masked error: the client gets "Unexpected error." and the id; the log line with that id has the cause.
    await db.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri TO metadata_uri_gone")
    try:
        r = post(api, {"query": "{ mirrors(first: 1) { edges { node { name } } } }"}, headers={"X-Request-ID": "masked-1"})
    finally:
        await db.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri_gone TO metadata_uri")
    assert r.json()["errors"][0]["message"] == "Unexpected error." and r.headers["x-request-id"] == "masked-1"
    assert "metadata_uri" in log_line(api, event="unexpected_error", request_id="masked-1")["error"]


async def test_operations_on_a_websocket_count_against_the_wallet_and_address_limits(
    start: Callable[..., ApiProcess], db: asyncpg.Connection
) -> None:
    """One connection must not be a way around the limits: each ``subscribe`` counts as a request of its
    wallet (and address). Past the limit that operation gets an error naming the wait; the connection stays."""
    limit = 3
    api = start(API_RATE_IP="0", API_RATE_WALLET=str(limit))
    wallet = Keypair()
    token = sign_in(api, wallet)
    doc = {"query": "subscription { events { eventId } }"}
    async with websockets.connect(api.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(limit + 1):
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": doc}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert refused["id"] == str(limit) and refused["type"] == "error", refused
        error = refused["payload"][0]
        assert error["extensions"]["code"] == "rate_limited" and 1 <= error["extensions"]["retryAfter"] <= 60, error
        await ws.send(json.dumps({"type": "ping"}))  # the connection and its three subscriptions go on
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
    assert_rate_limited(post_me(api, token))  # the same counter as the wallet's HTTP requests
    row = await db.fetchrow("SELECT * FROM api_audit WHERE action = 'rate_limited' AND wallet = $1", str(wallet.pubkey()))
    assert row is not None and json.loads(row["detail"]) == {"scope": "wallet"}

    anonymous = start(API_RATE_IP="2")  # the handshake is one request of the address, each subscribe another
    async with websockets.connect(anonymous.url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "a", "type": "subscribe", "payload": doc}))
        await ws.send(json.dumps({"id": "b", "type": "subscribe", "payload": doc}))
        refused = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert refused["id"] == "b" and refused["payload"][0]["extensions"]["code"] == "rate_limited", refused


def test_x_forwarded_for_is_believed_only_from_the_configured_proxies(start: Callable[..., ApiProcess]) -> None:
    """API_FORWARDED_ALLOW_IPS (default 127.0.0.1) names the proxies whose X-Forwarded-For is believed; with
    none, a client cannot pick the address it is judged by (here: to get a fresh rate limit per request)."""
    with ThreadPoolExecutor() as pool:
        trusting = pool.submit(start, API_RATE_IP="2")
        direct = pool.submit(start, API_RATE_IP="2", API_FORWARDED_ALLOW_IPS="")
        behind_proxy, exposed = trusting.result(), direct.result()
    # Behind the trusted proxy each client behind it has its own counter.
    assert [post(behind_proxy, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(4)] == [200] * 4
    # No trusted proxy: the peer is the client, whatever the header says.
    assert [post(exposed, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(3)] == [200, 200, 429]
