"""graphql_api/execution.py: the executor's short path for objects of plain leaves answers exactly
as graphql-core's own path does (data, errors, their paths), for plain values, nulls, a null in a
non-null field, an enum, a scalar that refuses a value, ``__typename``, a method that takes only
``self``, and the fields that must not take it (arguments, directives, async, permissions);
the subfields it keeps across requests are keyed so that variables in ``@skip``/``@include``
still count. Both executors run the same tiny Strawberry schema in process."""

from __future__ import annotations

from enum import Enum
from typing import Any, NewType

import pytest
import strawberry
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from graphql_api.execution import PlainLeavesExecutor


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


@strawberry.type
class Item:
    key: int
    name: str
    note: str | None
    colour: Colour
    even: Even

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


ITEMS = [
    Item(key=1, name="one", note=None, colour=Colour.RED, even=Even(2)),
    Item(key=2, name=None, note="n", colour=Colour.BLUE, even=Even(4)),  # type: ignore[arg-type]  # a null where none may be
    Item(key=3, name="three", note="x", colour=Colour.RED, even=Even(3)),  # a value the scalar refuses
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return list(ITEMS)


def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    return (
        strawberry.Schema(query=Query, execution_context_class=PlainLeavesExecutor, config=StrawberryConfig(scalar_map=SCALARS)),
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
        ("query($skip: Boolean!) { items { key note @skip(if: $skip) } }", {"skip": True}),
        ("query($skip: Boolean!) { items { key note @skip(if: $skip) } }", {"skip": False}),
        ("{ items { ...F } } fragment F on Item { key label }", None),
    ],
)
async def test_the_short_path_answers_as_graphql_core_does(query: str, variables: dict[str, Any] | None) -> None:
    short, plain = schemas()
    for _ in range(2):  # the second time from the kept subfields and plans
        assert shape(await short.execute(query, variables)) == shape(await plain.execute(query, variables)), query


async def test_the_short_path_is_taken_for_plain_leaves_only() -> None:
    short, _ = schemas()
    PlainLeavesExecutor._plans.clear()
    await short.execute("{ items { key note colour label __typename } }")
    await short.execute("{ items { key shout } }")
    plans = {tuple(step[0] for step in plan) if plan else None for plan in PlainLeavesExecutor._plans.values()}
    assert ("key", "note", "colour", "label", "__typename") in plans, plans  # read in one loop
    assert None in plans, plans  # a field with arguments: graphql-core's path
