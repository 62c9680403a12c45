"""graphql_api/execution.py: the executor's short path (plans completed breadth-first) answers
exactly as graphql-core's own path does (data, errors, their paths): plain values, nulls, a null in a
non-null field, an enum, a scalar that refuses a value, ``__typename``, a method that takes only
``self``, arguments, async resolvers behind a DataLoader, nested objects and lists of them, a
permission that fails silently and one that does not, a resolver that raises, a value of the wrong
type; the subfields it keeps across requests are keyed so that variables in ``@skip``/``@include``
still count. Both executors run the same tiny Strawberry schema in process. A nested list's
relation is loaded with one batch for all its parents, level by level."""

from __future__ import annotations

import gc
import warnings
from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any, NewType

import pytest
import strawberry
from strawberry.dataloader import DataLoader
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from graphql_api.execution import PlanExecutor
from graphql_api.loaders import BatchLoader


@strawberry.enum
class Colour(Enum):
    RED = "red"
    BLUE = "blue"


def _refuse_odd(value: int) -> int:
    if value % 2:
        raise ValueError(f"odd: {value}")
    return value


Even = NewType("Even", int)
SCALARS = {Even: strawberry.scalar(name="Even", serialize=_refuse_odd, parse_value=int)}


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return False


class OddKeysOnly(BasePermission):
    message = "odd keys only"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(source.key % 2)


@strawberry.interface
class Keyed:
    key: int


@strawberry.type
class Part(Keyed):
    size: Even

    @strawberry.field
    async def item(self, info: Info) -> Item | None:
        return await info.context["items"].load(self.key // 10)


@strawberry.type
class Item(Keyed):
    name: str
    note: str | None
    colour: Colour
    even: Even
    tags: list[str | None]

    @strawberry.field
    def label(self) -> str:
        return f"item {self.key}"

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times

    @strawberry.field
    async def later(self) -> str:
        return self.name

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str | None:
        return "s"

    @strawberry.field(extensions=[PermissionExtension(permissions=[OddKeysOnly()], fail_silently=True)])
    async def guarded_parts(self, info: Info) -> list[Part] | None:
        return await info.context["parts"].load((self.key, 2))

    @strawberry.field(permission_classes=[OddKeysOnly])
    async def odd_parts(self, info: Info) -> list[Part] | None:
        return await info.context["parts"].load((self.key, 1))

    @strawberry.field
    async def parts(self, info: Info, first: int = 2) -> list[Part]:
        return await info.context["parts"].load((self.key, first))

    @strawberry.field
    def everyone(self) -> list[Item]:
        return list(ITEMS)

    @strawberry.field
    def friend(self) -> Item | None:
        return ITEMS[self.key % len(ITEMS)]

    @strawberry.field
    async def boom(self) -> str | None:
        if self.key == 3:
            raise ValueError("boom")
        return "fine"

    @strawberry.field
    def must(self) -> Part:
        return None if self.key == 2 else Part(key=self.key * 10, size=Even(2))  # type: ignore[return-value]  # a null where none may be

    @strawberry.field
    def impostor(self) -> Item | None:
        return Part(key=self.key, size=Even(2)) if self.key == 1 else self  # type: ignore[return-value]  # a value of another type


ITEMS = [
    Item(key=1, name="one", note=None, colour=Colour.RED, even=Even(2), tags=["a", None]),
    Item(key=2, name=None, note="n", colour=Colour.BLUE, even=Even(4), tags=[]),  # type: ignore[arg-type]  # a null where none may be
    Item(key=3, name="three", note="x", colour=Colour.RED, even=Even(3), tags=["c"]),  # a value the scalar refuses
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return list(ITEMS)


def context(batches: list[list[Any]] | None = None, loader: Any = DataLoader) -> dict[str, Any]:
    """Each loader's batches are appended to ``batches`` (Strawberry's DataLoader, or the API's BatchLoader)."""
    seen = batches if batches is not None else []

    async def load_parts(keys: list[tuple[int, int]]) -> list[list[Part]]:
        seen.append(list(keys))
        return [[Part(key=k * 10 + i, size=Even(2 * i)) for i in range(first)] for k, first in keys]

    async def load_items(keys: list[int]) -> list[Item | None]:
        seen.append(list(keys))
        return [next((i for i in ITEMS if i.key == k), None) for k in keys]

    return {"parts": loader(load_parts), "items": loader(load_items)}


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    return (
        strawberry.Schema(query=Query, execution_context_class=PlanExecutor, config=StrawberryConfig(scalar_map=SCALARS)),
        strawberry.Schema(
            query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext, config=StrawberryConfig(scalar_map=SCALARS)
        ),
    )


def shape(result: Any) -> Any:
    return result.data, sorted((e.message, tuple(e.path or ())) for e in result.errors or [])


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ items { key note colour label __typename } }", None),
        ("{ items { key name } }", None),
        ("{ items { key even } }", None),
        ("{ items { key name even colour } }", None),
        ("{ items { k: key n: note again: key } }", None),
        ("{ items { key shout(times: 2) } }", None),
        ("{ items { key later } }", None),
        ("{ items { key secret } }", None),
        ("{ items { key tags } }", None),
        ("{ items { key parts { key size } } }", None),
        ("query($n: Int!) { items { key parts(first: $n) { key size item { key label } } } }", {"n": 3}),
        ("{ items { key guardedParts { key } } }", None),
        ("{ items { key oddParts { key } } }", None),
        ("{ items { key a: parts(first: 1) { key } b: parts(first: 0) { key } } }", None),
        ("{ items { key friend { key friend { key note } } } }", None),
        ("{ items { key friend { key name } } }", None),  # a null two levels down
        ("{ items { key parts { key item { key name } } } }", None),  # ... under a list, after an await
        ("{ items { key boom parts { key } } }", None),
        ("{ items { key must { key size } } }", None),
        ("{ items { key impostor { key } } }", None),
        ("{ items { key parts { key size } } }", None),
        ("{ items { key parts(first: 3) { size } } }", None),  # a size the scalar refuses, inside a list
        ("query($skip: Boolean!) { items { key note @skip(if: $skip) } }", {"skip": True}),
        ("query($skip: Boolean!) { items { key note @skip(if: $skip) } }", {"skip": False}),
        ("{ items { ...F } } fragment F on Item { key label parts { ... on Part { key } } }", None),
        ("{ items { key parts { ... on Keyed { key } } } }", None),
    ],
)
async def test_the_short_path_answers_as_graphql_core_does(query: str, variables: dict[str, Any] | None) -> None:
    short, plain = schemas()
    for _ in range(2):  # the second time from the kept subfields and plans
        expected = shape(await plain.execute(query, variables, context_value=context()))
        assert shape(await short.execute(query, variables, context_value=context())) == expected, query


@pytest.mark.parametrize("loader", [DataLoader, BatchLoader])
async def test_a_nested_relation_is_loaded_in_one_batch_per_level(loader: Any) -> None:
    short, plain = schemas()
    query = "{ items { key parts { key item { key parts(first: 1) { key } } } } }"
    short_batches: list[list[Any]] = []
    plain_batches: list[list[Any]] = []
    short_result = await short.execute(query, context_value=context(short_batches, loader))
    plain_result = await plain.execute(query, context_value=context(plain_batches, loader))
    assert shape(short_result) == shape(plain_result)
    # parts of the 3 items; the item of each of their 6 parts; those items' parts: three batches, level by level
    assert [len(b) for b in short_batches] == [3, 3, 3], short_batches
    assert sorted(map(repr, short_batches)) == sorted(map(repr, plain_batches)), plain_batches


async def test_graphql_core_completes_only_the_root_when_nothing_is_unusual(monkeypatch: pytest.MonkeyPatch) -> None:
    short, plain = schemas()
    paths: list[Any] = []
    graphql_core = StrawberryGraphQLCoreExecutionContext.execute_fields

    def counted(self: Any, parent_type: Any, source: Any, path: Any, *rest: Any) -> Any:
        paths.append(path.as_list() if path else None)
        return graphql_core(self, parent_type, source, path, *rest)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_fields", counted)
    query = "{ items { key label tags parts(first: 3) { key item { key friend { key } } } } }"
    expected = shape(await plain.execute(query, context_value=context()))
    paths.clear()
    assert shape(await short.execute(query, context_value=context())) == expected
    assert paths == [None], paths  # the root's fields; each item's tree went the short way
    paths.clear()
    await short.execute("{ items { key must { key } } }", context_value=context())
    assert ["items", 1] in paths, paths  # item 2's null in a non-null field: graphql-core's path, for that item


async def test_plans_cover_nested_selections_and_leave_the_rest_to_graphql_core() -> None:
    short, _ = schemas()
    PlanExecutor._plans.clear()
    await short.execute("{ items { key note colour label __typename } }", context_value=context())
    await short.execute("{ items { key shout(times: 2) parts { key item { key } } } }", context_value=context())
    await short.execute("{ items { key parts { ... on Keyed { key } } } }", context_value=context())
    plans = {tuple(step.name for step in plan) if plan else None for plan in PlanExecutor._plans.values()}
    assert ("key", "note", "colour", "label", "__typename") in plans, plans
    assert ("key", "shout", "parts") in plans, plans  # arguments and an async relation
    assert ("key", "item") in plans, plans
    assert None not in plans, plans  # an inline fragment on an interface is collected before planning


@pytest.mark.parametrize(
    "query",
    [
        "{ items { parts { key } secret } }",  # resolvers started for `parts`, then a refusal that is not silent
        "{ items { everyone { key oddParts { key } } } }",  # one level of items 1, 2, 3: 1's resolver made, then 2 refused
        "{ items { parts { key } friend { key } must { key } } }",  # subtrees under way, then a null where none may be
    ],
)
async def test_abandoning_the_short_path_leaves_no_coroutine_unawaited(query: str) -> None:
    short, plain = schemas()
    expected = shape(await plain.execute(query, context_value=context()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert shape(await short.execute(query, context_value=context())) == expected
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]


@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def seen(self, info: Info) -> int:
        return int(info.root_value.n)  # the event, as this resolver's info sees it


@strawberry.type
class Ticks:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[Tick, None]:
        for n in range(3):
            yield Tick(n=n)


async def test_each_event_of_a_subscription_is_resolved_with_its_own_info() -> None:
    config = StrawberryConfig(scalar_map=SCALARS)
    schema = strawberry.Schema(query=Query, subscription=Ticks, execution_context_class=PlanExecutor, config=config)
    events = await schema.subscribe("subscription { ticks { n seen } }")
    seen = [result.data async for result in events]  # type: ignore[union-attr]
    assert seen == [{"ticks": {"n": n, "seen": n}} for n in range(3)], seen
