"""The executor of every operation: Strawberry's, with a short path for objects whose selected
fields are all plain leaves.

graphql-core resolves each field alone: a resolve info, the resolver, the completion of its
value, about as much work per field as a small statement's round trip. Most of what a dApp
selects is plain columns (``mirror { name status jobCount … }``), which Strawberry resolves by
reading an attribute. For an object whose selected fields are all like that (no arguments, no
directives, no deferral, a scalar or enum type, read by Strawberry's attribute resolver, by a
method that takes only ``self`` such as ``Node.id``, or ``__typename``) the executor reads and
coerces them in one loop. Anything that would make a
field an error (a null for a non-null type, a value its scalar refuses) sends the whole object
back through graphql-core's own path, which words the error.

The executor also keeps, across requests, the subfields it collected for a selection (graphql-core
keeps them for one request): a document is parsed once per text (schema._prepare), so its nodes
are the same objects in every request that sends it, and in a document without directives what a
selection collects depends on nothing else. A document with any ``@`` in it is collected per
request, as graphql-core does (``@skip(if: $v)`` depends on the variables).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLEnumType, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, TypeNameMetaFieldDef, Undefined
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

MAX_PLANS = 1024
MAX_COLLECTED = 4096
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF  # a GraphQL field's StrawberryField

# How to read one field: (response name, read(source) -> value, coerce(value) -> output, non-null?)
Step = tuple[str, Callable[[Any], Any], Callable[[Any], Any], bool]


class _TypeName:
    """``__typename``'s reader: the object's type name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, source: Any) -> str:
        return self.name


def _identity(value: Any) -> Any:
    return value


class PlainLeavesExecutor(StrawberryGraphQLCoreExecutionContext):
    _plans: dict[tuple[Any, ...], list[Step] | None] = {}  # noqa: RUF012 - shared by every execution: the schema's
    # (return type, the selection's node ids) -> (those nodes, kept alive so that no id is reused; what they collect)
    _collected: dict[tuple[Any, ...], tuple[tuple[Any, ...], CollectedFields]] = {}  # noqa: RUF012

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: FieldDetailsList) -> CollectedFields:
        # graphql-core's memo first (by the list's identity: every item of a list asks with the same list), then ours.
        local = self._memo("subfields")
        found = local.get((return_type, id(field_details_list)))
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        if self._has_directives():
            collected = super().collect_subfields(return_type, field_details_list)
        else:
            nodes = tuple(d.node for d in field_details_list)
            key = (return_type, *map(id, nodes))
            kept = PlainLeavesExecutor._collected.get(key)
            if kept is not None:
                collected = kept[1]
            else:
                collected = super().collect_subfields(return_type, field_details_list)
                if len(PlainLeavesExecutor._collected) >= MAX_COLLECTED:
                    PlainLeavesExecutor._collected.clear()
                PlainLeavesExecutor._collected[key] = (nodes, collected)
        local[(return_type, id(field_details_list))] = (field_details_list, collected)  # the list kept alive with its id
        return collected

    def _memo(self, name: str) -> dict[Any, Any]:
        """A dict of this execution's (graphql-core builds an executor per operation, and a copy per event)."""
        memo: dict[Any, Any] = self.__dict__.setdefault(f"_plain_{name}", {})
        return memo

    def _has_directives(self) -> bool:
        found = self.__dict__.get("_plain_directives")
        if found is None:
            loc = self.operation.loc
            found = self.__dict__["_plain_directives"] = loc is None or "@" in loc.source.body
        return bool(found)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            results: dict[str, Any] = {}
            for response_name, read, coerce, non_null in plan:
                value = read(source_value)
                if value is None:
                    if non_null:
                        break  # graphql-core raises the non-null error
                    results[response_name] = None
                    continue
                if isinstance(value, Exception):
                    break
                try:
                    coerced = coerce(value)
                except Exception:  # noqa: BLE001 - graphql-core's path reports it
                    break
                if coerced is None or coerced is Undefined:
                    break
                results[response_name] = coerced
            else:
                return results
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[Step] | None:
        local = self._memo("plans")
        found = local.get((parent_type, id(grouped_field_set)))
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        plan = self._shared_plan(parent_type, grouped_field_set)
        local[(parent_type, id(grouped_field_set))] = (grouped_field_set, plan)
        return plan

    def _shared_plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[Step] | None:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None
        key: list[Any] = [parent_type]
        for response_name, details in grouped_field_set.items():
            node = details[0].node
            key.append((response_name, node.name.value, bool(node.arguments or node.directives), len(details)))
            if details[0].defer_usage is not None:
                return None
        shape = tuple(key)
        plans = PlainLeavesExecutor._plans
        if shape in plans:
            return plans[shape]
        plan = self._make_plan(parent_type, grouped_field_set)
        if len(plans) >= MAX_PLANS:
            plans.clear()
        plans[shape] = plan
        return plan

    def _make_plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> list[Step] | None:
        steps: list[Step] = []
        for response_name, details in grouped_field_set.items():
            if any(d.node.arguments or d.node.directives or d.defer_usage is not None for d in details):
                return None
            field_name = details[0].node.name.value
            field_def = self.schema.get_field(parent_type, field_name)
            if field_def is None or field_def.args:
                return None
            return_type = field_def.type
            non_null = isinstance(return_type, GraphQLNonNull)
            leaf = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
            if not isinstance(leaf, GraphQLScalarType | GraphQLEnumType):
                return None
            if field_def is TypeNameMetaFieldDef:
                steps.append((response_name, _TypeName(parent_type.name), _identity, True))
                continue
            read = _plain_reader(field_def)
            if read is None:
                return None
            steps.append((response_name, read, leaf.coerce_output_value, non_null))
        return steps


def _plain_reader(field_def: Any) -> Callable[[Any], Any] | None:
    """How to read a field from its object without graphql-core's per-field machinery, or None:
    Strawberry's attribute reader, or a synchronous method of the object that takes nothing but
    ``self`` (``Node.id``) and has no extensions or permissions."""
    resolve = field_def.resolve
    if resolve is not None and getattr(resolve, "_is_default", False):

        def read_attribute(source: Any) -> Any:
            return resolve(source, None)

        return read_attribute
    definition = field_def.extensions.get(DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if resolver is None or definition.extensions or definition.permission_classes or resolver.is_async:
        return None
    if resolver.self_parameter is None or len(resolver.signature.parameters) != 1:
        return None
    method: Callable[[Any], Any] = resolver.wrapped_func
    return method
