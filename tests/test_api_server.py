"""The API as a process against real PostgreSQL and Redis: queries through gql, Relay
connections and keyset cursors, lossless scalars, masked errors, limits, bad input."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from gql.transport.exceptions import TransportQueryError

from graphql_api.protection import UNAVAILABLE
from graphql_api.schema import SCHEMA_FILE, schema_text
from mirror_common.pg import create_pool, init_connection
from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, seed
from tests.indexer_support import TcpProxy

OWNER = address()


@pytest.fixture(scope="module")
async def database(postgres: Postgres) -> str:
    return await create_database(postgres.url)


@pytest.fixture(scope="module")
async def api(database: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiProcess]:
    tmp_path = tmp_path_factory.mktemp("api")
    pool = await create_pool(database)
    async with pool.acquire() as conn:
        await seed(conn, mirrors=45, owner=OWNER, private_every=5)
    await pool.close()
    proc = ApiProcess(database, redis_server.url, tmp_path, API_MAX_BODY="20000").start()
    yield proc
    proc.stop()


def test_the_committed_schema_is_the_code_s_schema() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "graphql_api/schema.graphql drifted: run python -m graphql_api.schema"


async def test_keyset_pages_walk_every_visible_mirror_once_both_ways(api: ApiProcess) -> None:
    q = """query($first: Int, $after: String, $last: Int, $before: String) {
             mirrors(first: $first, after: $after, last: $last, before: $before) {
               totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
               edges { cursor node { address name createdAt } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await api.query(q, first=7, after=after))["mirrors"]
        assert page["totalCount"] == 36  # 45 mirrors, every 5th private: an anonymous viewer lists the 36 public ones
        seen += [e["node"]["address"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 36
    times: list[int] = []
    back: list[str] = []
    before = None
    while True:
        page = (await api.query(q, last=10, before=before))["mirrors"]
        back = [e["node"]["address"] for e in page["edges"]] + back
        times = [int(e["node"]["createdAt"]) for e in page["edges"]] + times
        if not page["pageInfo"]["hasPreviousPage"]:
            break
        before = page["pageInfo"]["startCursor"]
    assert back == seen and times == sorted(times, reverse=True)
    default = (await api.query("{ mirrors { edges { node { address } } } }"))["mirrors"]["edges"]
    assert len(default) == 20


async def test_bad_input_gets_a_clear_graphql_error_never_a_500(api: ApiProcess) -> None:
    cases = {
        '{ mirrors(after: "garbage!") { totalCount } }': "invalid cursor",
        "{ mirrors(first: 101) { totalCount } }": "page size",
        "{ mirrors(first: 1, last: 1) { totalCount } }": "not both",
        '{ mirror(address: "not-a-key") { name } }': "base58",
        "{ mirrors(filter: {status: SLEEPING}) { totalCount } }": "SLEEPING",
        '{ node(id: "%%%") { id } }': "invalid id",
        '{ node(id: "Tm9wZTox") { id } }': "invalid id",
        '{ events(filter: {fromSlot: "99999999999999999999999"}) { totalCount } }': "I64",
    }
    for query, expected in cases.items():
        r = api.post(query)
        assert r.status_code in (200, 400), (query, r.status_code, r.text)
        body = r.json()
        assert body["errors"] and expected in body["errors"][0]["message"], (query, body)
        assert "Traceback" not in r.text and "SELECT" not in r.text
    r = httpx.post(f"{api.url}/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "Traceback" not in r.text
    # A cursor of another order is refused before SQL.
    first = (await api.query("{ mirrors(first: 1, orderBy: NAME_ASC) { pageInfo { endCursor } } }"))["mirrors"]["pageInfo"]["endCursor"]
    r = api.post("query($c: String) { mirrors(after: $c) { totalCount } }", c=first)
    assert "another order" in r.json()["errors"][0]["message"]


async def test_limits_refuse_hostile_documents_and_the_server_keeps_serving(api: ApiProcess) -> None:
    deep = (
        "{ mirrors { edges { node { grants { edges { node { mirror { grants { edges { node { mirror { grants { edges { node { id }"
        " } } } } } } } } } } } } } }"
    )
    assert "exceeds maximum operation depth" in api.post(deep).json()["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: indexerStatus {{ cursorSlot }}" for i in range(40)) + " }"
    assert "aliases" in api.post(aliases).json()["errors"][0]["message"]
    costly = (
        "{ mirrors(first: 100) { edges { node { trainingJobs(first: 100) { edges { node { id } } }"
        " events(first: 100) { edges { node { id } } } } } } }"
    )
    assert "query cost" in api.post(costly).json()["errors"][0]["message"]
    cycle = "query { mirrors { ...A } } fragment A on MirrorConnection { ...B } fragment B on MirrorConnection { ...A }"
    assert api.post(cycle).json()["errors"]
    assert "introspection" in api.post("{ __schema { types { name } } }").json()["errors"][0]["message"].lower()
    big = httpx.post(f"{api.url}/graphql", json={"query": "{ config { admin } }", "variables": {"x": "y" * 30000}})
    assert big.status_code == 413 and big.json()["error"] == "body_too_large"
    assert (await api.query("{ mirrors(first: 1) { totalCount } }"))["mirrors"]["totalCount"] == 36


async def test_values_past_2_53_and_year_9999_come_back_exactly(api: ApiProcess, database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        m = address()
        await conn.execute(
            """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version, job_count,
                                    created_at, updated_at, created_slot, created_signature, last_slot, created_at_unix, updated_at_unix)
               VALUES ($1, $2, $2, 18446744073709551615, 'edge', 'u', 'Public', 'Active', 4294967295, 18446744073709551615,
                       chain_time($3), chain_time($4), 1, 's', 1, $3, $4)""",
            m,
            OWNER,
            9223372036854775807,
            -9223372036854775808,
        )
    finally:
        await conn.close()
    got = await api.query("query($a: Address!) { mirror(address: $a) { mirrorId jobCount modelVersion createdAt updatedAt } }", a=m)
    assert got["mirror"] == {
        "mirrorId": "18446744073709551615",
        "jobCount": "18446744073709551615",
        "modelVersion": "4294967295",
        "createdAt": "9223372036854775807",
        "updatedAt": "-9223372036854775808",
    }


async def test_errors_are_masked_and_health_reports_its_parts(api: ApiProcess, database: str) -> None:
    health = httpx.get(f"{api.url}/healthz").json()
    assert health["postgres"] == "ok" and health["redis"] == "ok"
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri TO metadata_uri_gone")
        r = api.post("{ mirrors(first: 1) { edges { node { name } } } }")
        assert r.json()["errors"][0]["message"] == "Unexpected error."
        assert "metadata_uri" not in r.text and "Traceback" not in r.text
        await conn.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri_gone TO metadata_uri")
    finally:
        await conn.close()
    metrics = httpx.get(f"{api.url}/metrics").text
    assert "mirror_api_requests_total" in metrics and "mirror_api_request_seconds_bucket" in metrics


async def test_the_database_out_of_reach_is_a_clear_retryable_error_and_service_comes_back(
    database: str, redis_server: Redis, tmp_path: Path
) -> None:
    """PostgreSQL out of reach (a proxy that drops and refuses connections): a query is told so, with a
    code to retry on, not "Unexpected error."; health says which part is down; the same process serves
    again once the database is back."""
    proxy, through = await TcpProxy.in_front_of(database)
    # The proxy runs in this event loop: the process's blocking helpers run in threads.
    api = await asyncio.to_thread(ApiProcess(through, redis_server.url, tmp_path).start)
    query = "{ mirrors(first: 2) { totalCount edges { node { name latestModel { version } } } } }"

    async def post() -> Any:
        return (await asyncio.to_thread(api.post, query)).json()

    async def health() -> httpx.Response:
        return await asyncio.to_thread(httpx.get, f"{api.url}/healthz")

    try:
        before = (await post())["data"]
        proxy.refuse = True
        proxy.cut()
        for _ in range(3):  # the pool's dropped connections, then new ones refused
            body = await post()
            assert body["data"] is None, body
            assert [(e["message"], e["extensions"]) for e in body["errors"]] == [(UNAVAILABLE, {"code": "unavailable"})], body
        down = await health()
        assert down.status_code == 503 and down.json()["postgres"] != "ok" and down.json()["redis"] == "ok"
        assert "postgres_unavailable" in api.log() and "unexpected_error" not in api.log()
        proxy.refuse = False
        assert (await post())["data"] == before
        assert (await health()).status_code == 200 and api.alive()
    finally:
        api.stop()
        await proxy.close()


async def test_graphql_client_errors_surface_through_gql(api: ApiProcess) -> None:
    with pytest.raises(TransportQueryError, match="invalid cursor"):
        await api.query('{ mirrors(after: "x") { totalCount } }')


def test_two_workers_report_one_set_of_metrics(database: str, redis_server: Redis, tmp_path: Path) -> None:
    """API_WORKERS=2: both workers serve, and every scrape of /metrics, whichever worker answers it,
    counts the requests of both (Prometheus' multiprocess mode)."""
    api = ApiProcess(database, redis_server.url, tmp_path, API_WORKERS="2").start()
    try:
        query = "query TwoWorkers { mirrors(first: 1) { totalCount } }"
        for _ in range(40):  # a new connection each, so that the kernel spreads them over both workers
            r = httpx.post(f"{api.url}/graphql", json={"query": query}, timeout=10)
            assert r.status_code == 200 and "errors" not in r.json(), r.text
        scrapes = [httpx.get(f"{api.url}/metrics", timeout=10).text for _ in range(8)]
        counted = [re.findall(r'^mirror_api_requests_total\{operation="TwoWorkers",outcome="ok"\} (\S+)$', text, re.M) for text in scrapes]
        assert all(c == ["40.0"] for c in counted), counted
        counting = {f.stem.rsplit("_", 1)[1] for f in (tmp_path / "api-metrics").glob("counter_*.db")}
        assert len(counting) == 2, counting  # both workers counted requests, and every scrape summed them
    finally:
        api.stop()


async def test_a_subscriber_that_never_reads_does_not_hold_up_the_others(api: ApiProcess, database: str, redis_server: Redis) -> None:
    """Bad input: a WebSocket that subscribes and then stops reading. Twenty megabytes of events later
    (far more than the socket buffers on both sides hold), a subscriber that reads has received every
    event once, in order, and the server answers as before: the silent one only blocks its own
    delivery, and the hub drops its backlog rather than buffer it. When it reads again, it gets every
    event once, in order (its backlog read back from the database)."""
    import orjson
    import redis.asyncio as aioredis
    import websockets

    from indexer.publish import CHANNEL, message

    conn = await asyncpg.connect(database)
    await init_connection(conn)  # jsonb as Python values, as the indexer writes them
    rd = aioredis.from_url(redis_server.url)
    url = api.url.replace("http", "ws") + "/graphql"
    document = "subscription($m: Address) { events(filter: {mirror: $m}) { eventId name data } }"
    try:
        mirror = await conn.fetchval("SELECT address FROM mirrors WHERE visibility = 'Public' ORDER BY address LIMIT 1")
        big = "x" * 32_000  # every event carries 32 KB, so that a few hundred fill any socket buffer

        async def subscribe(ws: Any) -> None:
            await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
            assert orjson.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": document, "variables": {"m": mirror}}}).decode()
            )

        async with (
            websockets.connect(url, subprotocols=["graphql-transport-ws"], max_queue=1, max_size=None) as silent,
            websockets.connect(url, subprotocols=["graphql-transport-ws"], max_size=None) as reader,
        ):
            await subscribe(silent)
            await subscribe(reader)
            await asyncio.sleep(1.0)  # both registered with the hub
            sent: list[int] = []
            for n in range(600):  # as the indexer commits and announces each event
                row = await conn.fetchrow(
                    """INSERT INTO chain_events (signature, event_index, slot, program_id, name, payload, block_time_unix)
                       VALUES ($1, 0, $2, 'test', 'MirrorUpdated', $3, 1700000000)
                       RETURNING id, signature, event_index, slot, block_time_unix, name, payload""",
                    f"never-reads-{n}",
                    5_000 + n,
                    {"mirror": mirror, "n": n, "big": big},
                )
                assert row is not None
                await rd.publish(CHANNEL, orjson.dumps(message(row)).decode())
                sent.append(int(row["id"]))

            async def received(ws: Any) -> list[int]:
                got: list[int] = []
                async with asyncio.timeout(120):
                    while len(got) < len(sent):
                        message = orjson.loads(await ws.recv())
                        assert message["type"] == "next", message
                        got.append(int(message["payload"]["data"]["events"]["eventId"]))
                return got

            assert await received(reader) == sent, "every event once, in order"
            health = httpx.get(f"{api.url}/healthz", timeout=10)
            assert health.status_code == 200, health.text
            r = httpx.post(f"{api.url}/graphql", json={"query": "{ mirrors(first: 1) { totalCount } }"}, timeout=10)
            assert r.status_code == 200 and "errors" not in r.json(), r.text
            assert await received(silent) == sent, "the silent one, reading again, misses nothing and doubles nothing"
    finally:
        await rd.aclose()
        await conn.close()
