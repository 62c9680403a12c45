"""The GraphQL schema: queries, subscriptions and the extensions that guard them.

Resolvers only translate arguments and call ``store`` or a DataLoader; access is decided
in SQL and by the permission classes (``permissions.py``). The schema is committed as
``schema.graphql`` (``python -m graphql_api.schema`` rewrites it; a test fails on drift).
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    get_operation_ast,
    parse,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import OperationType as GraphQLOperationType
from graphql import execute as graphql_execute
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult, Info
from strawberry.utils.str_converters import to_camel_case

from graphql_api.errors import BadValue
from graphql_api.fanout import DirectDelivery, SharedEventExecutor
from graphql_api.fields import field, subscription
from graphql_api.inference import Answer, Ask, CanInfer, service
from graphql_api.pagination import Connection, PageArgs, connection
from graphql_api.permissions import SignedIn
from graphql_api.progress import progress_changes, progress_now
from graphql_api.protection import Masking, limits_rule
from graphql_api.scalars import I64, SCALARS, Address
from graphql_api.store import chain, events, grants, jobs, mirrors, models
from graphql_api.subscriptions import gapless_events, row_changes
from graphql_api.types import (
    AccessGrant,
    ChainEvent,
    Config,
    IndexerStatus,
    JobStatus,
    Mirror,
    MirrorStatus,
    ModelVersion,
    Node,
    Trainer,
    TrainingJob,
    TrainingProgress,
    Visibility,
    load_mirror,
    parse_global_id,
)
from mirror_common.config import Settings
from trainer.serving import Sampling

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


# Spelled out rather than built from mirrors.ORDERS so that mypy can type `order_by`; checked
# against ORDERS at import so the two cannot drift apart (members in ORDERS' order, as the schema prints them).
@strawberry.enum(name="MirrorOrder")
class MirrorOrder(Enum):
    CREATED_AT_DESC = "CREATED_AT_DESC"
    CREATED_AT_ASC = "CREATED_AT_ASC"
    NAME_ASC = "NAME_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


if [(m.name, m.value) for m in MirrorOrder] != [(k, k) for k in mirrors.ORDERS]:
    raise RuntimeError(f"MirrorOrder {[m.name for m in MirrorOrder]} does not match store.mirrors.ORDERS {list(mirrors.ORDERS)}")


@strawberry.input
class MirrorFilter:
    owner: Address | None = None
    creator: Address | None = None
    status: MirrorStatus | None = None
    visibility: Visibility | None = None
    name_contains: str | None = None


@strawberry.input
class TrainingJobFilter:
    mirror: Address | None = None
    status: JobStatus | None = None
    requester: Address | None = None
    trainer: Address | None = None


@strawberry.input
class ModelVersionFilter:
    mirror: Address | None = None


@strawberry.input
class GrantFilter:
    mirror: Address | None = None
    grantee: Address | None = None
    effective: bool | None = None


@strawberry.input
class EventFilter:
    mirror: Address | None = None
    names: list[str] | None = None
    from_slot: I64 | None = None
    to_slot: I64 | None = None

    def query(self, after: int | None = None) -> events.EventFilter:
        names = tuple(self.names) if self.names is not None else None
        if names is not None and (len(names) > 50 or any(len(n) > 64 or "\x00" in n for n in names)):
            raise BadValue("names: at most 50 event names of 64 characters (no U+0000)")
        return events.EventFilter(self.mirror, names, self.from_slot, self.to_slot, after)


def _counted(fn: Callable[[Any], Awaitable[int]], info: Info) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        async with info.context.state.pool.acquire() as conn:
            return await fn(conn)

    return count


async def _run(info: Info, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    async with info.context.state.pool.acquire() as conn:
        return await fn(conn)


def _mirror_filter(f: MirrorFilter | None) -> mirrors.MirrorFilter:
    if f is None:
        return mirrors.MirrorFilter()
    if f.name_contains is not None and (len(f.name_contains) > 64 or "\x00" in f.name_contains):
        raise BadValue("nameContains: at most 64 characters (no U+0000)")
    return mirrors.MirrorFilter(
        f.owner, f.creator, f.status.value if f.status else None, f.visibility.value if f.visibility else None, f.name_contains
    )


async def mirror_page(info: Info, flt: mirrors.MirrorFilter, order: str, args: PageArgs) -> Connection[Mirror]:
    viewer = info.context.viewer
    o = mirrors.ORDERS[order]
    rows = await _run(info, lambda c: mirrors.page(c, viewer, flt, o, args))
    return connection(rows, args, o, Mirror.of, _counted(lambda c: mirrors.count(c, viewer, flt), info))


async def grant_page(info: Info, flt: grants.GrantFilter, args: PageArgs) -> Connection[AccessGrant]:
    viewer = info.context.viewer
    rows = await _run(info, lambda c: grants.page(c, viewer, flt, args))
    return connection(rows, args, grants.ORDER, AccessGrant.of, _counted(lambda c: grants.count(c, viewer, flt), info))


@strawberry.type(description="The signed-in wallet.")
class Me:
    wallet: Address

    @field(description="Mirrors this wallet owns.")
    async def mirrors(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[Mirror]:
        return await mirror_page(info, mirrors.MirrorFilter(owner=self.wallet), "CREATED_AT_DESC", PageArgs.of(first, after, last, before))

    @field(description="Grants addressed to this wallet (effective or not: see `effective`).")
    async def grants(
        self, info: Info, first: int | None = None, after: str | None = None, last: int | None = None, before: str | None = None
    ) -> Connection[AccessGrant]:
        return await grant_page(info, grants.GrantFilter(grantee=self.wallet), PageArgs.of(first, after, last, before))


NODE_LOADERS: dict[str, Callable[[Info, str], Awaitable[Any]]] = {}


def _node_loader(name: str, loader: str, build: Callable[[Any], Any], key: Callable[[str], Any] = str) -> None:
    async def load(info: Info, value: str) -> Any:
        row = await getattr(info.context.loaders, loader).load(key(value))
        return build(row) if row is not None else None

    NODE_LOADERS[name] = load


def _event_key(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 19 or int(value) >= 2**63:
        raise BadValue("invalid id")
    return int(value)


_node_loader("Mirror", "mirror", Mirror.of)
_node_loader("AccessGrant", "grant", AccessGrant.of)
_node_loader("TrainingJob", "job", TrainingJob.of)
_node_loader("ModelVersion", "model", ModelVersion.of)
_node_loader("Trainer", "trainer", Trainer.of)
_node_loader("Config", "config", Config.of)
_node_loader("ChainEvent", "event", ChainEvent.of, _event_key)


TRAINING_PROGRESS = (
    "The job's training progress as its trainer reports it (not on chain), to whoever may see the job "
    "(as trainingJob: public mirrors to anyone, private ones to the owner and VIEW grantees)."
)


@strawberry.type
class Query:
    @field(description="Any object by its global id.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, key = parse_global_id(id)
        if type_name not in NODE_LOADERS:
            raise BadValue("invalid id")
        return await NODE_LOADERS[type_name](info, key)  # type: ignore[no-any-return]

    @strawberry.field
    async def mirror(self, info: Info, address: Address) -> Mirror | None:
        return await load_mirror(info, address)

    @field(description="Mirrors the viewer may see in full (public ones, its own, those it holds an effective VIEW grant for).")
    async def mirrors(
        self,
        info: Info,
        filter: MirrorFilter | None = None,
        order_by: MirrorOrder = MirrorOrder.CREATED_AT_DESC,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Mirror]:
        return await mirror_page(info, _mirror_filter(filter), order_by.value, PageArgs.of(first, after, last, before))

    @strawberry.field
    async def training_jobs(
        self,
        info: Info,
        filter: TrainingJobFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[TrainingJob]:
        f = filter or TrainingJobFilter()
        flt = jobs.JobFilter(f.mirror, f.status.value if f.status else None, f.requester, f.trainer)
        args = PageArgs.of(first, after, last, before)
        viewer = info.context.viewer
        rows = await _run(info, lambda c: jobs.page(c, viewer, flt, args))
        return connection(rows, args, jobs.ORDER, TrainingJob.of, _counted(lambda c: jobs.count(c, viewer, flt), info))

    @strawberry.field
    async def model_versions(
        self,
        info: Info,
        filter: ModelVersionFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ModelVersion]:
        flt = models.ModelFilter((filter or ModelVersionFilter()).mirror)
        args = PageArgs.of(first, after, last, before)
        viewer = info.context.viewer
        rows = await _run(info, lambda c: models.page(c, viewer, flt, args))
        return connection(rows, args, models.ORDER, ModelVersion.of, _counted(lambda c: models.count(c, viewer, flt), info))

    @field(description="Grants of mirrors the viewer may see, and grants addressed to the viewer.")
    async def grants(
        self,
        info: Info,
        filter: GrantFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AccessGrant]:
        f = filter or GrantFilter()
        return await grant_page(info, grants.GrantFilter(f.mirror, f.grantee, f.effective), PageArgs.of(first, after, last, before))

    @field(description="Events in the order the indexer committed them.")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[ChainEvent]:
        flt = (filter or EventFilter()).query()
        args = PageArgs.of(first, after, last, before)
        viewer = info.context.viewer
        rows = await _run(info, lambda c: events.page(c, viewer, flt, args))
        return connection(rows, args, events.ORDER, ChainEvent.of, _counted(lambda c: events.count(c, viewer, flt), info))

    @strawberry.field
    async def trainers(
        self,
        info: Info,
        active: bool | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Trainer]:
        args = PageArgs.of(first, after, last, before)
        rows = await _run(info, lambda c: chain.trainers_page(c, active, args))
        return connection(rows, args, chain.TRAINER_ORDER, Trainer.of, _counted(lambda c: chain.trainers_count(c, active), info))

    @field(description="The program's Config (null before initialize_config).")
    async def config(self, info: Info) -> Config | None:
        rows = await _run(info, chain.configs)
        return Config.of(rows[0]) if rows else None

    @field(permission_classes=[SignedIn])
    def me(self, info: Info) -> Me:
        return Me(wallet=info.context.viewer)

    @field(
        description="The mirror's latest model's answer to `prompt`: public mirrors for anyone, private ones "
        "for the owner and effective INFER grantees. `maxTokens` counts bytes; temperature 0 or a `seed` makes it repeatable.",
        permission_classes=[CanInfer],
    )
    async def ask(
        self,
        info: Info,
        mirror: Address,
        prompt: str,
        max_tokens: int = 64,
        temperature: float = 0.8,
        top_k: int | None = 40,
        seed: I64 | None = None,
    ) -> Answer | None:
        return await service(info).answer(info, Ask(mirror, prompt, Sampling(max_tokens, temperature, top_k, seed)))

    @field(description=TRAINING_PROGRESS + " Null when nothing is known (not started, the report expired or unreadable).")
    async def training_progress(self, info: Info, job: Address) -> TrainingProgress | None:
        return await progress_now(info, job)

    @strawberry.field
    async def indexer_status(self, info: Info) -> IndexerStatus:
        state = info.context.state
        cursors = await info.context.loaders.cursors()
        chain_slot = await node_slot(state.settings.mirror_rpc_url)
        lag = chain_slot - cursors["confirmed"] if chain_slot is not None else None
        chain = I64(chain_slot) if chain_slot is not None else None
        return IndexerStatus(cursor_slot=cursors["confirmed"], finalized_slot=cursors["finalized"], chain_slot=chain, lag=lag)


async def node_slot(rpc_url: str) -> int | None:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            r = await client.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": [{"commitment": "confirmed"}]})
            return int(r.json()["result"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


@strawberry.type
class Subscription:
    @subscription(description="Events past `after` (an eventId; absent: from now), each once, in commit order, then live.")
    async def events(self, info: Info, filter: EventFilter | None = None, after: I64 | None = None) -> AsyncGenerator[ChainEvent, None]:
        flt = (filter or EventFilter()).query()
        # on graphql-transport-ws, rows go out as pre-encoded messages, past Strawberry's per-result layers; the others come here
        async for row in gapless_events(info, flt, after, DirectDelivery.current()):
            yield ChainEvent.of(row)

    @subscription(description="The mirror now, then after each event that touches it.")
    async def mirror(self, info: Info, address: Address) -> AsyncGenerator[Mirror | None, None]:
        previous: Any = ()
        async for _ in row_changes(info, address, None):
            current = await load_mirror(info, address)
            snapshot = _mirror_snapshot(current)
            if snapshot != previous:
                previous = snapshot
                yield current

    @subscription(
        description="`ask`, streamed: an empty first piece naming the model version once it is loaded, then the text as it is "
        "generated (the pieces join to `ask`'s text for the same seed).",
        permission_classes=[CanInfer],
    )
    async def ask_stream(
        self,
        info: Info,
        mirror: Address,
        prompt: str,
        max_tokens: int = 64,
        temperature: float = 0.8,
        top_k: int | None = 40,
        seed: I64 | None = None,
    ) -> AsyncGenerator[Answer, None]:
        async for piece in service(info).stream(info, Ask(mirror, prompt, Sampling(max_tokens, temperature, top_k, seed))):
            yield piece

    @subscription(
        description=TRAINING_PROGRESS + " Now (null when nothing is known), then each change, about once a second; "
        "ends once the job is no longer Requested or Running (at once for a job the viewer cannot see or the indexer does not know)."
    )
    async def training_progress(self, info: Info, job: Address) -> AsyncGenerator[TrainingProgress | None, None]:
        async for progress in progress_changes(info, job):
            yield progress

    @subscription(description="The training job now, then after each event that touches it.")
    async def training_job(self, info: Info, address: Address) -> AsyncGenerator[TrainingJob | None, None]:
        row = await info.context.loaders.job.load(address)
        if row is None:
            yield None
            return
        previous: Any = ()
        async for _ in row_changes(info, row["mirror"], address):
            current = await info.context.loaders.job.load(address)
            if current != previous:
                previous = current
                yield TrainingJob.of(current) if current is not None else None


def _mirror_snapshot(mirror: Mirror | None) -> Any:
    """What the viewer can see of a mirror: a private one changes for it only when its public fields do,
    so a subscription does not reveal when a mirror it may not see was touched."""
    if mirror is None:
        return None
    if mirror.visible:
        return mirror.row
    return (mirror.row["owner"], mirror.row["visibility"])


@dataclass(eq=False)
class _Prepared:
    """A parsed document and its validation errors, by the rules they were checked against."""

    document: DocumentNode
    errors: dict[tuple[Any, ...], list[GraphQLError]] = dataclass_field(default_factory=dict)

    def validation_errors(self, schema: GraphQLSchema, rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        """The document's errors under ``rules``, validated once per schema and rules."""
        key = (schema, rules)
        errors = self.errors.get(key)
        if errors is None:
            errors = self.errors[key] = validate_document(schema, self.document, rules)
        return errors


@lru_cache(maxsize=1000)
def _prepare(query: str, max_tokens: int) -> _Prepared:
    return _Prepared(parse(query, max_tokens=max_tokens))


class OperationGuard(Masking):
    """Every operation's guards in one extension (Strawberry runs each extension's hooks through a context
    manager built per request and stage, a cost paid per extension, so fewer is faster):

    - the token limit (parse); the depth, alias and cost limits (``protection.limits_rule``) and, outside
      dev, no introspection (validation), in the place of Strawberry's MaxTokensLimiter,
      AddValidationRules and DisableIntrospection;
    - a document is parsed and validated once per text (ParserCache and ValidationCache did the same,
      but the latter hashed the whole document tree on every lookup); one that fails to parse is not
      cached: Strawberry parses it again and reports the error;
    - errors masked (``protection.Masking``), subscription results included;
    - each operation counted by name and outcome, and timed.
    """

    def __init__(self, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self.max_tokens = max_tokens
        self.rules = rules
        self.prepared: _Prepared | None = None

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = self.max_tokens
        ctx.validation_rules = ctx.validation_rules + self.rules
        start = time.perf_counter()
        yield from super().on_operation()  # masks the result's errors once the operation is done
        result = ctx.result
        failed = bool((result is not None and getattr(result, "errors", None)) or ctx.pre_execution_errors)
        count_operation(ctx.context, ctx.operation_name, failed, start)

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.query and ctx.graphql_document is None:
            try:
                self.prepared = _prepare(ctx.query, self.max_tokens)
                ctx.graphql_document = self.prepared.document
            except GraphQLError:
                pass
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        prepared = self.prepared
        if prepared is not None and ctx.graphql_document is prepared.document and ctx.pre_execution_errors is None:
            ctx.pre_execution_errors = prepared.validation_errors(ctx.schema._schema, ctx.validation_rules)
        yield

    def _process_result(self, result: object) -> None:
        # MaskErrors asks a runtime Protocol here (isinstance walks its attributes): 50 µs a request.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]


def count_operation(context: Any, operation_name: str | None, failed: bool, start: float) -> None:
    """Each operation counted by name and outcome, and timed (``mirror_api_requests``, ``mirror_api_latency``)."""
    state = getattr(context, "state", None)
    if state is None:
        return
    name = (operation_name or "anonymous")[:64]
    state.metrics.requests.labels(name, "error" if failed else "ok").inc()
    state.metrics.latency.labels(name).observe(time.perf_counter() - start)


class MirrorSchema(strawberry.Schema):
    """Strawberry's schema, with a direct path for the common case of an HTTP query (``execute_query``)."""

    def __init__(self, *, max_tokens: int, rules: tuple[type[ASTValidationRule], ...], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_tokens = max_tokens
        # What OperationGuard validates against (Strawberry's default rules, then ours), so both share one cache entry.
        self.validation_rules = tuple(specified_rules) + rules
        self._mask = Masking()

    async def execute_query(
        self, query: str, variables: dict[str, Any] | None, context: Any, operation_name: str | None
    ) -> ExecutionResult | None:
        """A query whose document parses and validates (both cached per text, as OperationGuard does), run by
        graphql-core directly, past Strawberry's per-request extension machinery (a context manager per
        extension and stage, the execution context, result conversion: a fifth of a small query's CPU).
        The same executor class, the same error logging and masking, the same metrics. Anything else (a
        document that does not parse or validate, no or an ambiguous operation, a mutation or subscription)
        returns None and takes ``execute``, which words each error itself."""
        start = time.perf_counter()
        try:
            prepared = _prepare(query, self.max_tokens)
        except GraphQLError:
            return None
        errors = prepared.validation_errors(self._schema, self.validation_rules)
        operation = get_operation_ast(prepared.document, operation_name)
        if errors or operation is None or operation.operation is not GraphQLOperationType.QUERY:
            return None
        try:
            result = graphql_execute(
                self._schema,
                prepared.document,
                variable_values=variables,
                operation_name=operation_name,
                context_value=context,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]  # a TypeGuard in graphql-core's stubs
                executor_class=self.execution_context_class,
            )
            if inspect.isawaitable(result):
                result = await result
        except Exception as e:  # noqa: BLE001 - as Strawberry's execute: an error in the answer, not a 500
            result = GraphQLExecutionResult(data=None, errors=[GraphQLError(str(e), original_error=e)])
        if result.errors:
            self.process_errors(result.errors)  # logged as they are, before masking
            result.errors = self._mask._process_errors(result.errors)
        count_operation(context, operation.name.value if operation.name else None, bool(result.errors), start)  # as Strawberry names it
        return ExecutionResult(data=result.data, errors=result.errors)


_camel_case = lru_cache(maxsize=None)(to_camel_case)  # schema names only: a bounded set


class CachedNames(NameConverter):
    """Strawberry converts every argument's name again on every call of its field (100 mirrors'
    ``grants(first, after, last, before)``: 400 conversions a request); the names never change."""

    def apply_naming_config(self, name: str) -> str:
        return _camel_case(name) if self.auto_camel_case else name


def build_schema(settings: Settings) -> MirrorSchema:
    # Depth, aliases and cost in one linear pass (protection.py), not Strawberry's limiters: those are exponential on fragment bombs.
    rules: tuple[type[ASTValidationRule], ...] = (limits_rule(settings.api_max_depth, settings.api_max_aliases, settings.api_max_cost),)
    if not settings.api_dev:
        rules += (NoSchemaIntrospectionCustomRule,)
    return MirrorSchema(
        max_tokens=settings.api_max_tokens,
        rules=rules,
        query=Query,
        subscription=Subscription,
        extensions=[lambda: OperationGuard(settings.api_max_tokens, rules)],
        config=StrawberryConfig(name_converter=CachedNames(), scalar_map=SCALARS),
        execution_context_class=SharedEventExecutor,
    )


def schema_text() -> str:
    return build_schema(Settings(api_dev=True)).as_str() + "\n"


def main() -> int:
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
