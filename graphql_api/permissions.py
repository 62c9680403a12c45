"""Who may read what, as Strawberry permission classes (never ``if`` in resolvers).

``CanViewMirror`` guards every field of a Mirror but its id, address, owner and
visibility. The decision is made in SQL for the request's viewer (``store.sql.visible``:
Public, owner, or an effective VIEW grant) and carried on the row as ``visible``. Guarded
fields fail silently (null, or an empty connection being null), so a private mirror reads
as "exists, owned by X, private" and nothing else. The fields with a resolver carry the
permission (``private()``); the plain columns (``guarded()``) are set to null when the
Mirror is built for a viewer who may not see it (``types.Mirror.of``), so that reading
one stays an attribute read, and carry the same ``@canViewMirror`` in the schema.
Jobs, model versions, events and grants are filtered by the same rule in SQL wherever
they are listed or fetched, so they never reach a resolver unseen.

``SignedIn`` guards ``me``: it needs a valid token.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info


class CanViewMirror(BasePermission):
    message = "private mirror: only its owner and holders of an effective VIEW grant see this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return bool(getattr(source, "visible", False))


class SignedIn(BasePermission):
    message = "sign in first (POST /auth/verify), then send Authorization: Bearer <token>"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.viewer is not None


def private() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[CanViewMirror()], fail_silently=True)]


def guarded(description: str | None = None) -> Any:
    """A plain Mirror column that ``types.Mirror.of`` nulls for a viewer who may not see the mirror."""
    return strawberry.field(description=description, directives=[CanViewMirror().schema_directive])
