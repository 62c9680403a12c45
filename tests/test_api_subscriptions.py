"""Subscriptions end to end: localnet, indexer, PostgreSQL, Redis and the API as
processes; a gql client over graphql-transport-ws. Live delivery after the indexer's
commit; a reconnect with a cursor that yields each missed event exactly once; Redis
restarted mid-stream; `mirror` and `trainingJob` following the chain; a grant revoked on
chain seen by the grantee's live subscriptions."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
from gql import Client, GraphQLRequest, gql
from gql.transport.websockets import WebsocketsTransport
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from bench.common import labelled_counter
from mirror_common.localnet import Localnet
from mirror_common.services import Redis
from tests.api_support import ApiProcess, full_stack, sign_in
from tests.conftest import funded
from tests.indexer_support import MirrorLife, eventually

EVENTS = "subscription($m: Address, $after: I64) { events(filter: {mirror: $m}, after: $after) { eventId name } }"


def ws_client(api: ApiProcess, token: str | None = None, protocol: str = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL) -> Client:
    """graphql-transport-ws by default; ``WebsocketsTransport.APOLLO_SUBPROTOCOL`` for the older graphql-ws."""
    url = api.url.replace("http", "ws") + "/graphql"
    init = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(transport=WebsocketsTransport(url=url, subprotocols=[protocol], init_payload=init))


class Subscribed:
    """One subscription running in the background; ``items`` fills as results arrive."""

    def __init__(self, api: ApiProcess, document: str, token: str | None = None, protocol: str | None = None, **variables: Any) -> None:
        self.items: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(api, gql(document), token, protocol, variables))

    async def _run(self, api: ApiProcess, document: Any, token: str | None, protocol: str | None, variables: dict[str, Any]) -> None:
        try:
            async with ws_client(api, token, *([protocol] if protocol else [])) as session:
                self._ready.set()
                async for item in session.subscribe(GraphQLRequest(document, variable_values=variables or None)):
                    self.items.append(item)
        except Exception as e:  # noqa: BLE001 - the test reads it from .error
            self.error = e
            self._ready.set()

    async def __aenter__(self) -> Subscribed:
        await self._ready.wait()
        await asyncio.sleep(1.0)  # the subscription is registered before the test sends its transaction
        assert self.error is None, self.error
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()

    async def count(self, n: int, what: str, timeout: float = 30) -> list[dict[str, Any]]:
        async def enough() -> bool:
            assert self.error is None, self.error
            return len(self.items) >= n

        await eventually(enough, what=what, timeout=timeout)
        return self.items


async def test_live_then_reconnect_with_a_cursor_gets_each_event_once(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        mirror = await life.create(owner, 3, "Live", "Public")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(mirror)), what="mirror indexed")

        # Connected before the transaction: the event arrives once the indexer commits it.
        async with Subscribed(api, EVENTS, m=str(mirror)) as live:
            await life.update(owner, mirror, "Live 2")
            got = [e["events"] for e in await live.count(1, "live MirrorUpdated")]
            assert [e["name"] for e in got] == ["MirrorUpdated"]
        cursor = int(got[-1]["eventId"])

        # Disconnected while events keep coming, then back with the cursor: each once, in order.
        for i in range(3):
            await life.update(owner, mirror, f"Live {i + 3}")
        expected = [r["id"] for r in await eventually(lambda: _at_least(db, str(mirror), cursor, 3), what="3 more events indexed")]
        async with Subscribed(api, EVENTS, m=str(mirror), after=str(cursor)) as again:
            await life.update(owner, mirror, "Live 9")
            await again.count(4, "replay then live")
            await asyncio.sleep(1.0)
            ids = [int(e["events"]["eventId"]) for e in again.items]
            assert ids[:3] == expected and len(ids) == 4 and len(set(ids)) == 4 and ids == sorted(ids), ids


async def _at_least(db: asyncpg.Connection, mirror: str, after: int, n: int) -> list[Any]:
    rows = await db.fetch("SELECT id FROM chain_events WHERE payload->>'mirror' = $1 AND id > $2 ORDER BY id", mirror, after)
    return list(rows) if len(rows) >= n else []  # empty: not yet, and `eventually` polls again


async def test_redis_restarted_mid_stream_loses_nothing(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, tmp_path: Path
) -> None:
    redis = Redis().start()
    try:
        async with full_stack(localnet.rpc_url, database, redis.url, tmp_path) as stack:
            api, db = stack.api, stack.db
            life = MirrorLife(rpc, trainer)
            owner = await funded(rpc, 5)
            mirror = str(await life.create(owner, 4, "Restart", "Public"))
            await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", mirror), what="mirror indexed")
            cursor = await db.fetchval("SELECT max(id) FROM chain_events")

            async with Subscribed(api, EVENTS, m=mirror) as live:
                await life.update(owner, Pubkey.from_string(mirror), "Before")
                await live.count(1, "an event before the restart")

                # Redis goes away; the indexer keeps committing; the API reads PostgreSQL meanwhile.
                redis.stop(remove=False)
                for i in range(2):
                    await life.update(owner, Pubkey.from_string(mirror), f"During {i}")
                await live.count(3, "events while Redis is down")

                # A subscriber that reconnects with its cursor while Redis is down.
                async with Subscribed(api, EVENTS, m=mirror, after=str(cursor)) as resumed:
                    await resumed.count(3, "the replay while Redis is down")
                    redis.start()  # same port
                    await life.update(owner, Pubkey.from_string(mirror), "After")
                    await live.count(4, "an event after Redis came back")
                    await resumed.count(4, "an event after Redis came back")
                    await asyncio.sleep(1.5)  # room for a double to show up

                    expected = [r["id"] for r in await db.fetch("SELECT id FROM chain_events WHERE id > $1 ORDER BY id", cursor)]
                    assert len(expected) == 4
                    for sub in (live, resumed):
                        assert [int(e["events"]["eventId"]) for e in sub.items] == expected
                        assert [e["events"]["name"] for e in sub.items] == ["MirrorUpdated"] * 4
    finally:
        redis.stop()


async def test_mirror_and_training_job_subscriptions_follow_the_chain(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        mirror = await life.create(owner, 5, "Row", "Public")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(mirror)), what="mirror indexed")

        doc = "subscription($a: Address!) { mirror(address: $a) { name modelVersion jobCount } }"
        async with Subscribed(api, doc, a=str(mirror)) as row:
            assert [i["mirror"]["name"] for i in row.items] == ["Row"]  # the row now
            await life.update(owner, mirror, "Row 2")
            items = await row.count(2, "the row after MirrorUpdated")
            assert items[1]["mirror"]["name"] == "Row 2"

            job = await life.request(owner, mirror, 0)
            await eventually(lambda: db.fetchval("SELECT count(*) FROM training_jobs WHERE address = $1", str(job)), what="job indexed")
            jobdoc = "subscription($a: Address!) { trainingJob(address: $a) { status trainer modelCid mirror { name } } }"
            async with Subscribed(api, jobdoc, a=str(job)) as job_row:
                await life.start(mirror, job)
                await job_row.count(2, "RUNNING")
                await life.complete(mirror, job, 1)
                items = await job_row.count(3, "COMPLETED")
                await asyncio.sleep(1.0)
                statuses = [i["trainingJob"]["status"] for i in job_row.items]
                assert statuses == ["REQUESTED", "RUNNING", "COMPLETED"], statuses  # each change once, none repeated
                assert items[2]["trainingJob"]["modelCid"] and items[2]["trainingJob"]["mirror"]["name"] == "Row 2"
                assert items[1]["trainingJob"]["trainer"] == str(trainer.pubkey())

            # The mirror's row follows the job too: its job count, then its model version.
            async def model_published() -> bool:
                return row.items[-1]["mirror"]["modelVersion"] == "1"

            await eventually(model_published, what="the mirror row after ModelPublished")
            assert row.items[-1]["mirror"]["jobCount"] == "1"

        # A job that does not exist: null, and the stream ends.
        async with Subscribed(api, jobdoc, a=str(Keypair().pubkey())) as missing:
            await missing.count(1, "null for an unknown job")
            assert missing.items == [{"trainingJob": None}]


async def test_a_grant_revoked_on_chain_ends_the_grantee_s_live_view(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        viewer = Keypair()
        mirror = await life.create(owner, 6, "Secret", "Private")
        await life.grant(owner, mirror, viewer.pubkey(), 1)
        granted = "SELECT count(*) FROM access_grants WHERE mirror = $1 AND revoked_at_unix IS NULL"
        await eventually(lambda: db.fetchval(granted, str(mirror)), what="grant indexed")
        tokens = {"owner": sign_in(api, owner), "viewer": sign_in(api, viewer)}

        mirror_doc = "subscription($a: Address!) { mirror(address: $a) { address name } }"
        async with (
            Subscribed(api, EVENTS, tokens["owner"], m=str(mirror)) as owners,
            Subscribed(api, EVENTS, tokens["viewer"], m=str(mirror)) as viewers,
            Subscribed(api, EVENTS, None, m=str(mirror)) as anonymous,
            Subscribed(api, mirror_doc, tokens["viewer"], a=str(mirror)) as viewer_row,
        ):
            assert viewer_row.items[0]["mirror"]["name"] == "Secret"
            await life.update(owner, mirror, "Secret 2", visibility=None)
            await viewers.count(1, "the grantee sees the update")
            assert (await viewer_row.count(2, "the grantee's row after the update"))[1]["mirror"]["name"] == "Secret 2"

            await life.revoke(owner, mirror, viewer.pubkey())
            rows = await viewer_row.count(3, "the grantee's row after the revocation")
            assert rows[2]["mirror"] == {"address": str(mirror), "name": None}  # reduced to what anyone may see
            await life.update(owner, mirror, "Secret 3", visibility=None)
            await owners.count(3, "the owner sees update, revocation, update")
            await asyncio.sleep(1.5)
            assert [e["events"]["name"] for e in owners.items] == ["MirrorUpdated", "AccessRevoked", "MirrorUpdated"]
            # The grantee saw the update before the revocation and nothing after it; a stranger nothing at all.
            assert [e["events"]["name"] for e in viewers.items] == ["MirrorUpdated"]
            assert anonymous.items == []
            assert len(viewer_row.items) == 3


def counter_by_label(api: ApiProcess, metric: str, label: str) -> dict[str, float]:
    """The API's counter ``metric`` by the value of its one label, e.g. mirror_api_subscription_results by outcome
    (executed, shared) or mirror_api_subscription_batches by path (pushed from the hub's task, queued for the subscription's)."""
    return labelled_counter(api.url, f"{metric}_total", label)


def subscription_results(api: ApiProcess) -> dict[str, float]:
    return counter_by_label(api, "mirror_api_subscription_results", "outcome")


async def test_an_event_is_executed_once_per_document_variables_and_viewer(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    """Fan-out (graphql_api/fanout.py): subscribers with the same document, variables and viewer share one
    execution per event and get equal results; a different document, different variables or another
    viewer is executed apart, and what each receives is what it would get alone. On graphql-transport-ws
    the messages are pre-encoded (DirectDelivery); a subscriber on the older graphql-ws protocol takes
    Strawberry's own path and receives the very same items."""
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        owner = await funded(rpc, 5)
        public = await life.create(owner, 7, "Shared", "Public")
        secret = await life.create(owner, 8, "Secret", "Private")
        await eventually(lambda: db.fetchval("SELECT count(*) FROM mirrors WHERE address = $1", str(secret)), what="mirrors indexed")
        token = sign_in(api, owner)
        nested = "subscription($m: Address) { events(filter: {mirror: $m}) { eventId name mirror { name visibility } } }"
        async with (
            Subscribed(api, nested, m=str(public)) as a1,
            Subscribed(api, nested, m=str(public)) as a2,
            Subscribed(api, nested, m=str(public)) as a3,
            Subscribed(api, nested, token, m=str(public)) as owner_same_doc,
            Subscribed(api, EVENTS, m=str(public)) as other_doc,
            Subscribed(api, EVENTS, None, WebsocketsTransport.APOLLO_SUBPROTOCOL, m=str(public)) as other_doc_legacy,
            Subscribed(api, nested) as every_mirror,  # other variables: no filter
            Subscribed(api, nested, token) as owner_every_mirror,
            Subscribed(api, nested, token, WebsocketsTransport.APOLLO_SUBPROTOCOL) as owner_every_mirror_legacy,
        ):
            before = subscription_results(api)
            await life.update(owner, public, "Shared 2")
            owner_every = (owner_every_mirror, owner_every_mirror_legacy)
            everyone = (a1, a2, a3, owner_same_doc, other_doc, other_doc_legacy, every_mirror, *owner_every)
            for sub in everyone:
                await sub.count(1, "the update")
            after = subscription_results(api)
            # Five groups of (viewer, document, variables): the three anonymous nested/{m} subscribers, the owner's
            # two without a filter and the two plain ones (graphql-transport-ws and graphql-ws each), and each of the
            # other two alone. Nine subscribers: five executions, four shared.
            delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("executed", "shared")}
            assert delta == {"executed": 5, "shared": 4}, (before, after)
            expected = {"name": "MirrorUpdated", "mirror": {"name": "Shared 2", "visibility": "PUBLIC"}}
            for sub in (a1, a2, a3, owner_same_doc, every_mirror, owner_every_mirror):
                assert {k: v for k, v in sub.items[0]["events"].items() if k != "eventId"} == expected
            assert other_doc.items[0]["events"]["name"] == "MirrorUpdated" and "mirror" not in other_doc.items[0]["events"]

            # The private mirror's event: its owner gets it, with the name; the anonymous subscribers
            # of the same document and variables do not (the row is filtered for each viewer before execution).
            await life.update(owner, secret, "Secret 2", visibility=None)
            items = await owner_every_mirror.count(2, "the owner sees the private update")
            assert items[1]["events"]["mirror"] == {"name": "Secret 2", "visibility": "PRIVATE"}
            legacy = await owner_every_mirror_legacy.count(2, "the owner sees the private update over graphql-ws")
            assert legacy == items, "pre-encoded messages and Strawberry's own carry the same items"
            await asyncio.sleep(1.5)
            assert len(every_mirror.items) == 1 and len(a1.items) == 1

            # The plain document's execution finished at once, so its later events go out from the hub's own task
            # (hub.py's push, fanout.DirectDelivery.prepare), not its subscription's: the same items as over graphql-ws,
            # which never takes that path; the nested ones still come, through their tasks.
            pushed = counter_by_label(api, "mirror_api_subscription_batches", "path").get("pushed", 0)
            await life.update(owner, public, "Shared 3")
            for sub in everyone:
                await sub.count(3 if sub in owner_every else 2, "the third update")
            assert counter_by_label(api, "mirror_api_subscription_batches", "path").get("pushed", 0) > pushed
            assert other_doc.items == other_doc_legacy.items and [i["events"]["name"] for i in other_doc.items] == ["MirrorUpdated"] * 2
            assert a1.items[1]["events"]["mirror"] == {"name": "Shared 3", "visibility": "PUBLIC"} and a1.items == a2.items == a3.items
