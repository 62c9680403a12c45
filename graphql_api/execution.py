"""The executor of every operation: Strawberry's, with a short path that completes a whole
object tree breadth-first, a list of objects at a time.

graphql-core resolves each field alone: a resolve info, Strawberry's argument conversion and
extensions, the resolver, a task for each async result, then the completion of its value. A
page of 100 mirrors with their grants, jobs and latest model is about 1,600 such fields and
600 resolver calls, each a task. The short path walks the same selection by type instead:

- **Plans.** For an object type and its selection, a ``Plan`` says how to get each field: read
  it (Strawberry's attribute reader, a method that takes only ``self``, ``__typename``) or call
  its resolver (with ``info`` and the field's arguments, coerced once per selection rather than
  once per object), then coerce a leaf or complete an object or a list of them with the plan
  of its own selection. A field the plan cannot take (a directive, a deferral, an abstract or
  doubly-nested list type, a resolver with field extensions other than permissions) leaves the
  object to graphql-core. Plans are kept across requests.
- **Breadth-first.** ``_complete`` takes every object of a level at once: a relation's
  resolver is called for all 100 mirrors, their coroutines are stepped side by side in this
  task (``eager.gather_eagerly``: no task each), so their DataLoader batches are one statement,
  then the next level follows with every child of every mirror. A subtree that waits for
  nothing finishes synchronously, as graphql-core's own path would.
- **Permissions** (``PermissionExtension``) are checked per object, as Strawberry checks them:
  a refusal that fails silently gives its null (or empty list), any other leaves the object to
  graphql-core, which words the error.
- **Exactly graphql-core's answer.** Anything unusual (a null in a non-null field, a value a
  scalar refuses, a resolver that raises or returns an error) abandons the short path for the
  object where it began and runs that object through graphql-core's own path, which words the
  error and nulls what the spec says. The short path has no side effects to undo: resolvers are
  reads and a DataLoader answers the same key from its cache the second time (the resolver
  coroutines made but not yet run are closed). Root types are never planned: their fields
  (``ask``, ``me``) may count against limits or raise on purpose.
- **Nothing left to the collector.** graphql-core's async helpers hold the executor weakly
  (``__init__``): held strongly, as graphql-core does, they made each execution, with the
  request's context, a reference cycle that waited for the cyclic collector.

The executor also keeps, across requests, the subfields it collected for a selection (graphql-core
keeps them for one request): a document is parsed once per text (schema._prepare), so its nodes
are the same objects in every request that sends it, and in a document without directives what a
selection collects depends on nothing else. A document with any ``@`` in it is collected per
request, as graphql-core does (``@skip(if: $v)`` depends on the variables).
"""

from __future__ import annotations

import functools
import inspect
import operator
import weakref
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    TypeNameMetaFieldDef,
    Undefined,
)
from graphql.execution.collect_fields import CollectedFields, FieldDetailsList, GroupedFieldSet
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from graphql_api.eager import Resumed, gather_eagerly

MAX_PLANS = 1024
MAX_COLLECTED = 4096
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF  # a GraphQL field's StrawberryField


class Abandon(Exception):
    """The short path cannot answer exactly as graphql-core would: graphql-core's path answers."""


# A permission: (has_permission, a refusal gives [] rather than None, a refusal is silent rather than an error)
Check = tuple[Callable[..., Any], bool, bool]


@dataclass(frozen=True, slots=True)
class Call:
    """A field's resolver, called as Strawberry calls it, behind its permission checks."""

    field_def: GraphQLField
    field: StrawberryField
    func: Callable[..., Any]
    pass_self: bool
    source_names: tuple[str, ...]  # root/parent parameters: given the object by name
    info_name: str | None
    checks: tuple[Check, ...]  # its permissions, in Strawberry's order


@dataclass(frozen=True, slots=True)
class Step:
    """How to get one field of an object: ``read`` it or ``call`` its resolver; then coerce a leaf
    (``coerce``) or complete an object (``child``), one value or a list of them."""

    name: str  # the response name
    read: Callable[[Any], Any] | None
    call: Call | None
    coerce: Callable[[Any], Any] | None
    child: GraphQLObjectType | None
    non_null: bool
    is_list: bool
    item_non_null: bool


Plan = tuple[Step, ...]
Bound = tuple[Any, dict[str, Any], Callable[[Any], Any]]  # a field's Info, its arguments, its resolver of the object alone


class PlanExecutor(StrawberryGraphQLCoreExecutionContext):
    _plans: dict[tuple[Any, ...], Plan | None] = {}  # noqa: RUF012 - shared by every execution: the schema's
    # (return type, the selection's node ids) -> (those nodes, kept alive so that no id is reused; what they collect)
    _collected: dict[tuple[Any, ...], tuple[tuple[Any, ...], CollectedFields]] = {}  # noqa: RUF012

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core's helpers hold the executor's bound methods: a reference cycle that left each execution (its
        # infos, memos and context) to the cyclic collector. Holding the executor weakly, they let it go at once.
        executor = weakref.ref(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=lambda values: _alive(executor).gather_async_work(values),
            track=lambda values: _alive(executor).track_async_work(values),
        )

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
            kept = PlanExecutor._collected.get(key)
            if kept is not None:
                collected = kept[1]
            else:
                collected = super().collect_subfields(return_type, field_details_list)
                if len(PlanExecutor._collected) >= MAX_COLLECTED:
                    PlanExecutor._collected.clear()
                PlanExecutor._collected[key] = (nodes, collected)
        local[(return_type, id(field_details_list))] = (field_details_list, collected)  # the list kept alive with its id
        return collected

    def _memo(self, name: str) -> dict[Any, Any]:
        """A dict of this execution's (graphql-core builds an executor per operation, and a copy per event of a
        subscription, made before it executes anything, so that no copy shares another's)."""
        memo: dict[Any, Any] = self.__dict__.setdefault(f"_plan_{name}", {})
        return memo

    def _has_directives(self) -> bool:
        found = self.__dict__.get("_plan_directives")
        if found is None:
            loc = self.operation.loc
            found = self.__dict__["_plan_directives"] = loc is None or "@" in loc.source.body
        return bool(found)

    # --- the short path ----------------------------------------------------------------

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = None if path is None else self._plan(parent_type, grouped_field_set)  # path None: a root type's fields
        graphql_core = functools.partial(super().execute_fields, parent_type, source_value, path, grouped_field_set, position_context)
        if plan is not None:
            run = self._complete(plan, parent_type, grouped_field_set, [source_value])
            try:
                waiting_on = run.send(None)
            except StopIteration as done:
                return done.value[0]
            except Exception:  # noqa: BLE001 - Abandon, or a resolver's error: graphql-core's path words it
                pass
            else:
                return self._complete_later(Resumed(run, waiting_on), graphql_core)
        return graphql_core()

    async def _complete_later(self, rest: Resumed, graphql_core: Callable[[], Any]) -> Any:
        try:
            return (await rest)[0]
        except Exception:  # noqa: BLE001 - as above
            result = graphql_core()
            return await result if self.is_awaitable(result) else result

    async def _complete(
        self, plan: Plan, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet, sources: list[Any]
    ) -> list[dict[str, Any]]:
        """The completed objects, one per source: each field for every source, then each level below for all of them."""
        columns: list[list[Any]] = []
        calls: list[tuple[list[Any], int, Coroutine[Any, Any, Any]]] = []  # (column, row, coroutine): filled in once done
        try:
            for step, details in zip(plan, grouped_field_set.values(), strict=True):
                if step.call is None:
                    read = step.read
                    column = [read(s) for s in sources]  # type: ignore[misc]  # a step has read or call
                else:
                    column = self._call(step.call, parent_type, details, sources)
                    calls.extend((column, row, value) for row, value in enumerate(column) if inspect.iscoroutine(value))
                columns.append(column)
        except BaseException:
            _close(c for _, _, c in calls)  # made, never run: abandoned with the short path
            raise
        if calls:
            for (column, row, _), value in zip(calls, await gather_eagerly([c for _, _, c in calls]), strict=True):
                column[row] = value
        # The levels below, for all the sources at once; the subtrees of different fields side by side.
        below: list[tuple[int, Callable[[list[Any]], list[Any]]]] = []
        runs: list[Coroutine[Any, Any, list[dict[str, Any]]]] = []
        try:
            for index, (step, details) in enumerate(zip(plan, grouped_field_set.values(), strict=True)):
                if step.child is None:
                    columns[index] = _leaves(step, columns[index])
                    continue
                children, rebuild = _objects(step, columns[index])
                if not children:
                    columns[index] = rebuild([])
                    continue
                child_fields = self.collect_subfields(step.child, details).grouped_field_set
                child_plan = self._plan(step.child, child_fields)
                if child_plan is None:
                    raise Abandon(f"{step.child.name}: not planned")
                below.append((index, rebuild))
                runs.append(self._complete(child_plan, step.child, child_fields, children))
        except BaseException:
            _close(runs)
            raise
        if runs:
            done = await gather_eagerly(runs) if len(runs) > 1 else [await runs[0]]
            for (index, rebuild), completed in zip(below, done, strict=True):
                columns[index] = rebuild(completed)
        objects: list[dict[str, Any]] = [{} for _ in sources]
        for step, column in zip(plan, columns, strict=True):
            name = step.name
            for completed_object, value in zip(objects, column, strict=True):
                completed_object[name] = value
        return objects

    def _call(self, call: Call, parent_type: GraphQLObjectType, details: FieldDetailsList, sources: list[Any]) -> list[Any]:
        """The resolver's result for each source (a coroutine where it is async), or a permission's silent value."""
        info, kwargs, resolve = self._bound(call, parent_type, details)
        checks = call.checks
        if not checks:
            out = [resolve(source) for source in sources]
        else:
            out = []
            try:
                for source in sources:
                    refused = _refusal(checks, source, info, kwargs)
                    out.append(resolve(source) if refused is _ALLOWED else refused)
            except BaseException:
                _close(v for v in out if inspect.iscoroutine(v))  # made for the objects before the refusal, never run
                raise
        if call.field.is_async:
            return out
        is_awaitable = self.is_awaitable
        return [_awaited(v) if is_awaitable(v) and not inspect.iscoroutine(v) else v for v in out]

    def _bound(self, call: Call, parent_type: GraphQLObjectType, details: FieldDetailsList) -> Bound:
        """The field's Strawberry ``Info``, converted arguments and resolver taking only the object, once per selection."""
        memo = self._memo("bound")
        found = memo.get(id(details))
        if found is None:
            node = details[0].node
            raw_info = self.build_resolve_info(call.field_def, [d.node for d in details], parent_type, Path(None, node.name.value, None))
            strawberry_schema = self.schema._strawberry_schema  # type: ignore[attr-defined]  # set by strawberry.Schema
            info = strawberry_schema.config.info_class(_raw_info=raw_info, _field=call.field)
            args = get_argument_values(call.field_def, node, self.variable_values) if call.field_def.args or node.arguments else {}
            scalars = strawberry_schema.schema_converter.scalar_registry
            kwargs = convert_arguments(args, call.field.arguments, scalar_registry=scalars, config=strawberry_schema.config, info=info)
            for extension in call.field.extensions:
                kwargs = extension.map_arguments(kwargs)
            named = dict(kwargs)
            if call.info_name is not None:
                named[call.info_name] = info
            resolve = _resolver(call, named)
            found = memo[id(details)] = (details, info, kwargs, resolve)  # the list kept alive with its id
        return found[1], found[2], found[3]

    # --- plans -------------------------------------------------------------------------

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> Plan | None:
        local = self._memo("plans")
        found = local.get((parent_type, id(grouped_field_set)))
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        plan = self._shared_plan(parent_type, grouped_field_set)
        local[(parent_type, id(grouped_field_set))] = (grouped_field_set, plan)
        return plan

    def _shared_plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> Plan | None:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None
        key: list[Any] = [parent_type]
        for response_name, details in grouped_field_set.items():
            if any(d.node.directives or d.defer_usage is not None or d.fragment_variable_values is not None for d in details):
                return None
            key.append((response_name, details[0].node.name.value))
        shape = tuple(key)
        plans = PlanExecutor._plans
        if shape in plans:
            return plans[shape]
        plan = _make_plan(self, parent_type, grouped_field_set)
        if len(plans) >= MAX_PLANS:
            plans.clear()
        plans[shape] = plan
        return plan


def _alive(executor: weakref.ref[PlanExecutor]) -> PlanExecutor:
    found = executor()
    if found is None:
        raise RuntimeError("the execution is over")  # a resolver kept its info past its operation
    return found


def _make_plan(executor: PlanExecutor, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> Plan | None:
    steps: list[Step] = []
    for response_name, details in grouped_field_set.items():
        field_name = details[0].node.name.value
        if field_name == "__typename":
            name = parent_type.name
            steps.append(Step(response_name, lambda _, name=name: name, None, _identity, None, True, False, False))  # type: ignore[misc]
            continue
        field_def = executor.schema.get_field(parent_type, field_name)
        if field_def is None or field_def is TypeNameMetaFieldDef:
            return None
        kind = _kind(field_def.type)
        if kind is None:
            return None
        named, non_null, is_list, item_non_null = kind
        read = _plain_reader(field_def) if not field_def.args else None
        call = _call(field_def) if read is None else None
        if read is None and call is None:
            return None
        if isinstance(named, GraphQLObjectType):
            steps.append(Step(response_name, read, call, None, named, non_null, is_list, item_non_null))
        else:
            steps.append(Step(response_name, read, call, named.coerce_output_value, None, non_null, is_list, item_non_null))
    return tuple(steps)


def _kind(type_: GraphQLOutputType) -> tuple[Any, bool, bool, bool] | None:
    """(named type, non-null, a list, its items non-null) for a leaf or object, or a list of them; else None."""
    non_null = isinstance(type_, GraphQLNonNull)
    inner: Any = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    is_list = isinstance(inner, GraphQLList)
    item_non_null = False
    if is_list:
        inner = inner.of_type
        item_non_null = isinstance(inner, GraphQLNonNull)
        inner = inner.of_type if item_non_null else inner
    if not isinstance(inner, GraphQLScalarType | GraphQLEnumType | GraphQLObjectType):
        return None  # an interface, a union, a list of lists
    return inner, non_null, is_list, item_non_null


def _plain_reader(field_def: GraphQLField) -> Callable[[Any], Any] | None:
    """How to read a field from its object without graphql-core's per-field machinery, or None:
    Strawberry's attribute reader, or a synchronous method of the object that takes nothing but
    ``self`` (``Node.id``) and has no extensions or permissions."""
    resolve = field_def.resolve
    definition = field_def.extensions.get(DEFINITION_BACKREF)
    if resolve is not None and getattr(resolve, "_is_default", False):
        if isinstance(definition, StrawberryField) and definition.default_resolver is getattr:
            return operator.attrgetter(definition.python_name)  # what Strawberry's reader does, in C

        def read_attribute(source: Any) -> Any:
            return resolve(source, None)

        return read_attribute
    resolver = getattr(definition, "base_resolver", None)
    if not isinstance(definition, StrawberryField) or resolver is None:
        return None
    if definition.extensions or definition.permission_classes or resolver.is_async:
        return None
    if resolver.self_parameter is None or len(resolver.signature.parameters) != 1:
        return None
    method: Callable[[Any], Any] = resolver.wrapped_func
    return method


def _call(field_def: GraphQLField) -> Call | None:
    """The field's resolver as the plan calls it, or None: a resolver with field extensions other than
    permissions, or a permission decided by an awaitable."""
    definition = field_def.extensions.get(DEFINITION_BACKREF)
    resolver = getattr(definition, "base_resolver", None)
    if not isinstance(definition, StrawberryField) or resolver is None:
        return None
    guards = [e for e in definition.extensions if isinstance(e, PermissionExtension)]
    if len(guards) != len(definition.extensions):
        return None
    if any(inspect.iscoroutinefunction(p.has_permission) for g in guards for p in g.permissions):
        return None
    checks = tuple((p.has_permission, g.fail_silently and g.return_empty_list, g.fail_silently) for g in guards for p in g.permissions)
    source_names = tuple(p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None)
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    return Call(field_def, definition, resolver.wrapped_func, resolver.self_parameter is not None, source_names, info_name, checks)


def _resolver(call: Call, named: dict[str, Any]) -> Callable[[Any], Any]:
    """``call``'s resolver as a function of the object alone: its other arguments bound (in C, by ``partial``)."""
    if not call.source_names:
        return functools.partial(call.func, **named) if call.pass_self else lambda _: call.func(**named)

    def resolve(source: Any) -> Any:
        given = dict(named, **dict.fromkeys(call.source_names, source))
        return call.func(source, **given) if call.pass_self else call.func(**given)

    return resolve


# --- completing values -------------------------------------------------------------------

_ALLOWED = object()


def _refusal(checks: tuple[Check, ...], source: Any, info: Any, kwargs: dict[str, Any]) -> Any:
    """``_ALLOWED``, or the value a permission that fails silently gives instead of the field."""
    for has_permission, empty_list, silent in checks:
        allowed = has_permission(source, info, **kwargs)
        if allowed is True:
            continue
        if allowed is False and silent:
            return [] if empty_list else None
        raise Abandon("refused")  # graphql-core's path raises the permission's error (or Strawberry's, for a non-bool)
    return _ALLOWED


def _close(coros: Iterable[Coroutine[Any, Any, Any]]) -> None:
    for coro in coros:
        coro.close()


async def _awaited(value: Any) -> Any:
    return await value


def _identity(value: Any) -> Any:
    return value


def _leaves(step: Step, values: list[Any]) -> list[Any]:
    """A column of leaf values, coerced for the response."""
    if not step.is_list:
        return _coerced(step, values, step.non_null)
    out: list[Any] = []
    for value in values:
        if value is None and not step.non_null:
            out.append(None)
        elif value is None or isinstance(value, str | bytes | dict | Exception) or not hasattr(value, "__iter__"):
            raise Abandon("null or not a list")
        else:
            out.append(_coerced(step, value, step.item_non_null))
    return out


def _coerced(step: Step, values: Iterable[Any], non_null: bool) -> list[Any]:
    """Leaf values (a column, or the items of one list) coerced by the step's scalar or enum."""
    coerce = step.coerce
    out: list[Any] = []
    for value in values:
        if value is None:
            if non_null:
                raise Abandon("null")
            out.append(None)
            continue
        if isinstance(value, Exception):
            raise Abandon("error")
        coerced = coerce(value)  # type: ignore[misc]  # a leaf has coerce
        if coerced is None or coerced is Undefined:
            raise Abandon("refused by its scalar")
        out.append(coerced)
    return out


def _objects(step: Step, values: list[Any]) -> tuple[list[Any], Callable[[list[Any]], list[Any]]]:
    """The objects of a column, flat, and how to put their completed dicts back in its shape."""
    if step.is_list:
        children, rebuild = _object_lists(step, values)
    elif any(v is None or isinstance(v, Exception) for v in values):
        if step.non_null or any(isinstance(v, Exception) for v in values):
            raise Abandon("null or error")
        children = [v for v in values if v is not None]

        def rebuild(completed: list[Any]) -> list[Any]:
            found = iter(completed)
            return [None if v is None else next(found) for v in values]

    else:
        children, rebuild = values, _identity
    is_type_of = step.child.is_type_of if step.child is not None else None
    # Strawberry's is_type_of reads no info
    if is_type_of is not None and not all(is_type_of(child, None) for child in children):  # type: ignore[arg-type]
        raise Abandon("not of its type")  # graphql-core's path raises the error
    return children, rebuild


def _object_lists(step: Step, values: list[Any]) -> tuple[list[Any], Callable[[list[Any]], list[Any]]]:
    children: list[Any] = []
    bounds: list[int | None] = []  # per row: None, or where its objects end in children
    for value in values:
        if value is None:
            if step.non_null:
                raise Abandon("null")
            bounds.append(None)
            continue
        if isinstance(value, str | bytes | dict | Exception) or not hasattr(value, "__iter__"):
            raise Abandon("not a list")
        children.extend(value)
        bounds.append(len(children))
    if any(item is None or isinstance(item, Exception) for item in children):
        raise Abandon("null or error item")  # rare: graphql-core's path nulls it or the list

    def rebuild(completed: list[Any]) -> list[Any]:
        out: list[Any] = []
        start = 0
        for end in bounds:
            if end is None:
                out.append(None)
            else:
                out.append(completed[start:end])
                start = end
        return out

    return children, rebuild
