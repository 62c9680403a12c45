"""``field(...)`` and ``subscription(...)``: ``strawberry.field(...)`` and ``strawberry.subscription(...)``
as typed decorators, so resolvers stay checked by ``mypy --strict``.

Called with keyword arguments only, each is declared to return ``Any`` (the same
call doubles as a dataclass field default), which makes every resolver it decorates untyped;
Strawberry's mypy plugin only covers its pydantic integration. At runtime that call returns the
``StrawberryField`` whose ``__call__`` takes the resolver; this returns that same object, typed,
so the schema Strawberry builds is unchanged.
"""

from __future__ import annotations

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission
from strawberry.types.field import StrawberryField


def field(
    *,
    description: str | None = None,
    extensions: list[FieldExtension] | None = None,
    permission_classes: list[type[BasePermission]] | None = None,
) -> StrawberryField:
    made: StrawberryField = strawberry.field(description=description, extensions=extensions, permission_classes=permission_classes)
    return made


def subscription(*, description: str | None = None, permission_classes: list[type[BasePermission]] | None = None) -> StrawberryField:
    made: StrawberryField = strawberry.subscription(description=description, permission_classes=permission_classes)
    return made
