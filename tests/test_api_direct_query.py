"""``MirrorSchema.execute_query`` (graphql-core directly) against ``schema.execute`` (Strawberry's whole
pipeline), in process over a real PostgreSQL: for answers with data, with client errors, with a
masked server error, for each kind of viewer, both give the same JSON and count the same metric; a
document that cannot take the direct path (parse or validation errors, a mutation-less schema's
unknown operation, a subscription) is left to ``schema.execute``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from strawberry.http import process_result

from graphql_api.context import Context
from graphql_api.schema import MirrorSchema, build_schema
from mirror_common.pg import Pool, create_pool
from tests.api_support import address, seed
from tests.test_api_fanout import State

FULL_MIRROR = """query M($a: Address!) { mirror(address: $a) { id address owner visibility creator mirrorId name metadataUri status
  modelVersion jobCount createdAt updatedAt createdSlot createdSignature commitment latestModel { version modelCid }
  grants { totalCount edges { node { grantee effective } } } trainingJobs(first: 1) { edges { cursor node { status } } } } }"""


@pytest.fixture
async def pool(database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(database)
    yield pool
    await pool.close()


def requests_counted(state: State) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.values()): s.value
        for metric in state.metrics.requests.collect()
        for s in metric.samples
        if s.name.endswith("_total")
    }


async def both(schema: MirrorSchema, state: State, viewer: str | None, query: str, variables: dict[str, Any] | None = None) -> Any:
    """The answer by either path (equal, and counted alike), or None when the direct path declines it."""
    before = requests_counted(state)
    direct = await schema.execute_query(query, variables, Context(state, viewer, "rid"), None)  # type: ignore[arg-type]
    counted_direct = requests_counted(state)
    full = await schema.execute(query, variables, context_value=Context(state, viewer, "rid"))  # type: ignore[arg-type]
    counted_full = requests_counted(state)
    if direct is None:
        assert counted_direct == before, "a declined query is not counted twice"
        return None
    assert process_result(direct) == process_result(full), (query, variables)
    delta_direct = {k: v - before.get(k, 0) for k, v in counted_direct.items() if v != before.get(k, 0)}
    delta_full = {k: v - counted_direct.get(k, 0) for k, v in counted_full.items() if v != counted_direct.get(k, 0)}
    assert delta_direct == delta_full and sum(delta_direct.values()) == 1, (delta_direct, delta_full)
    return process_result(direct)


async def test_the_direct_path_answers_as_strawberry_does(pool: Pool) -> None:
    owner, grantee, stranger = address(), address(), address()
    async with pool.acquire() as conn:
        public, private = await seed(conn, mirrors=2, owner=owner, grantee=grantee, private_every=2, jobs=2)
    state = State(pool)
    schema = build_schema(state.settings)

    for viewer in (None, owner, grantee, stranger):
        for mirror in (public, private):
            answer = await both(schema, state, viewer, FULL_MIRROR, {"a": mirror})
            assert answer is not None and "errors" not in answer, answer
    shown = await both(schema, state, stranger, FULL_MIRROR, {"a": private})
    assert shown["data"]["mirror"]["name"] is None and shown["data"]["mirror"]["grants"] is None  # masked alike on both paths
    assert (await both(schema, state, owner, FULL_MIRROR, {"a": private}))["data"]["mirror"]["name"] == "mirror 0"

    lists = "query { mirrors(first: 1) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"
    assert (await both(schema, state, None, lists))["data"]["mirrors"]["totalCount"] == 1  # the private one is not listed

    # Client errors: a bad variable, a bad cursor, an unknown enum value in a variable: the same error on both paths.
    for query, variables in (
        (FULL_MIRROR, {"a": "not-an-address"}),
        (FULL_MIRROR, {}),
        ('query { mirrors(after: "garbage") { totalCount } }', None),
        ("query($s: MirrorStatus) { mirrors(filter: {status: $s}) { totalCount } }", {"s": "ASLEEP"}),
    ):
        answer = await both(schema, state, None, query, variables)
        assert answer is not None and answer["errors"], (query, answer)

    # A server error is masked on both paths.
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri TO metadata_uri_gone")
        try:
            answer = await both(schema, state, None, FULL_MIRROR, {"a": public})
        finally:
            await conn.execute("ALTER TABLE mirrors RENAME COLUMN metadata_uri_gone TO metadata_uri")
    assert answer["errors"][0]["message"] == "Unexpected error.", answer


async def test_what_the_direct_path_leaves_to_strawberry(pool: Pool) -> None:
    state = State(pool)
    schema = build_schema(state.settings)
    for query in (
        "query { mirror(",  # does not parse
        "query { nope }",  # does not validate
        "query { a: __typename } query { b: __typename }",  # two operations, none named
        "subscription { events { eventId } }",  # not a query
        "query Q { __typename }" + " { __typename }",  # an anonymous operation beside a named one
    ):
        assert await both(schema, state, None, query) is None, query
