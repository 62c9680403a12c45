"""The server: FastAPI with Strawberry's router at ``/graphql``, ``/auth/*``, ``/healthz``
and ``/metrics``.

Around every request, outermost first: a request id (``X-Request-ID``, echoed, in every
log line), the IP allow/deny lists (CIDR), the body size limit, CORS, the per-IP rate
limit (Redis, sliding window); the per-wallet limit runs once the token is read. The
context getter reads the bearer token (or, on a WebSocket, ``connection_init``'s
``Authorization``) and refuses a bad one with 401 and a code (``auth.CODES``).
GraphiQL and introspection exist only with ``API_DEV``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog
from cross_web import HTTPException
from fastapi import FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketDisconnect
from strawberry import UNSET
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import process_result
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions.protocols import graphql_transport_ws, graphql_ws
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from graphql_api import auth
from graphql_api.context import Context
from graphql_api.encoding import encode_json
from graphql_api.fanout import TRANSPORT_OPERATION
from graphql_api.hub import EventHub
from graphql_api.inference import Inference
from graphql_api.ratelimit import RateLimited, hit
from graphql_api.schema import build_schema, node_slot
from graphql_api.state import ApiState, jwt_secret
from graphql_api.store import api as api_store
from graphql_api.store import chain
from mirror_common.config import Settings
from mirror_common.pg import create_pool
from mirror_common.pg_errors import is_connection_error
from mirror_common.retry import DATABASE, retry

log = structlog.get_logger("graphql_api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status, headers=headers)


class Guard:
    """Pure ASGI: request id, IP lists, body size, per-IP rate limit. Refusals are JSON."""

    def __init__(self, app: ASGIApp, get_state: Callable[[], ApiState | None], settings: Settings) -> None:
        self.app = app
        self.get_state = get_state
        self.max_body = settings.api_max_body
        self.allow = [ipaddress.ip_network(c.strip(), strict=False) for c in settings.api_ip_allow.split(",") if c.strip()]
        self.deny = [ipaddress.ip_network(c.strip(), strict=False) for c in settings.api_ip_deny.split(",") if c.strip()]

    def ip_allowed(self, host: str | None) -> bool:
        if not self.allow and not self.deny:
            return True
        try:
            ip = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack proxy writes 10.0.0.1 as ::ffff:10.0.0.1: judged by the IPv4 lists
        if any(ip in n for n in self.deny):
            return False
        return not self.allow or any(ip in n for n in self.allow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid, length = "", None  # the two headers read here (ASGI servers give names in lower case)
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                rid = value.decode("latin-1")
            elif name == b"content-length":
                length = value.decode("latin-1")
        if not _REQUEST_ID.fullmatch(rid):
            rid = os.urandom(16).hex()  # as uuid4().hex reads (32 hex digits), at a fifth of its cost
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        client = scope.get("client")
        host = client[0] if client else None
        state = self.get_state()

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        async def refuse(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
            if state is not None:
                state.metrics.refusals.labels(code).inc()
            if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 4403 if status == 403 else 4429})  # the server answers the handshake 403
                return
            # A WebSocket handshake gets the same HTTP answer (ASGI's websocket.http.response), so a client sees 403 or 429.
            await _json(status, {"error": code, "message": message}, extra)(scope, receive, send_with_id)

        try:
            if not self.ip_allowed(host):
                await refuse(403, "ip_denied", "this address may not use the API")
                return
            path = scope.get("path", "")
            if state is not None and state.settings.api_rate_ip > 0 and (path.startswith("/graphql") or path.startswith("/auth")):
                key = _rate_key(host)
                try:
                    await hit(state, key, state.settings.api_rate_ip)
                except RateLimited as e:
                    await audit_rate_limited(state, key, e.retry_after, host, rid, None)
                    await refuse(429, "rate_limited", "too many requests from this address", {"Retry-After": str(e.retry_after)})
                    return
            if scope["type"] == "http":
                if length is not None and (not length.isdigit() or int(length) > self.max_body):
                    await refuse(413, "body_too_large", f"request bodies are limited to {self.max_body} bytes")
                    return
                receive = self._limited(receive)
            await self.app(scope, receive, send_with_id)
        except _BodyTooLarge:
            await refuse(413, "body_too_large", f"request bodies are limited to {self.max_body} bytes")
        finally:
            structlog.contextvars.unbind_contextvars("request_id")

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _BodyTooLarge
            return message

        return limited


class GraphQLPost:
    """Pure ASGI: ``POST /graphql`` goes straight to ``handle`` (the same context getter and Strawberry
    view as the route), past FastAPI's router and dependency injection, which cost more than a small
    query's execution. Everything else, the GraphQL WebSocket included, takes the FastAPI route."""

    def __init__(self, app: ASGIApp, path: str, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self.app = app
        self.path = path
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == self.path:
            response = await self.handle(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# Over HTTP: queries and mutations. Strawberry's POST also takes subscriptions and runs their resolver as a field,
# which fails as a masked "Unexpected error."; they are served over the WebSocket instead.
_HTTP_OPERATIONS = {OperationType.QUERY, OperationType.MUTATION}
SUBSCRIPTION_OVER_HTTP = "subscriptions are served over WebSocket (graphql-transport-ws) at /graphql"
_STREAMING = ("multipart/mixed", "text/event-stream")  # Accept values that ask Strawberry's view for a streamed answer


async def plain_post(request: Request) -> dict[str, Any] | None:
    """The body of an ordinary GraphQL POST (JSON object, string query, object variables and extensions,
    no streamed answer asked for), or None: the request is left to Strawberry's view, which says what is wrong.
    A float among the variables is left to it too: orjson reads an integer past 64 bits as a float."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/json":
        return None
    accept = request.headers.get("accept", "")
    if any(s in accept for s in _STREAMING):
        return None
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str):
        return None
    variables, extensions, name = data.get("variables"), data.get("extensions"), data.get("operationName")
    if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None) or not isinstance(name, str | None):
        return None
    try:
        if variables and _has_float(variables):
            return None
    except RecursionError:  # orjson reads 30,000 levels of nesting; the view's json.loads refuses them with a 400
        return None
    return data


def _has_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


async def execute_http(
    schema: Any,
    query: str | None,
    variables: dict[str, Any] | None,
    ctx: Any,
    operation_name: str | None,
    extensions: Any,
    root_value: Any = None,
) -> ExecutionResult:
    """One GraphQL operation over HTTP, for the direct path and the view alike: an operation that cannot run
    here is an ``HTTPException`` 400 with the view's wording (subscriptions: where they are served)."""
    try:
        if query and root_value is None:
            direct: ExecutionResult | None = await schema.execute_query(query, variables, ctx, operation_name)  # None: not ordinary
            if direct is not None:
                return direct
        try:
            result: ExecutionResult = await schema.execute(
                query,
                variables,
                context_value=ctx,
                root_value=root_value,
                operation_name=operation_name,
                allowed_operation_types=_HTTP_OPERATIONS,
                operation_extensions=extensions,
            )
        except CannotGetOperationTypeError as e:
            raise HTTPException(400, e.as_http_error_reason()) from e
        except InvalidOperationTypeError as e:
            subscription = e.operation_type == OperationType.SUBSCRIPTION
            raise HTTPException(400, SUBSCRIPTION_OVER_HTTP if subscription else e.as_http_error_reason("POST")) from e
        except MissingQueryError as e:
            raise HTTPException(400, "No GraphQL query found in the request") from e
        return result
    finally:
        ctx.release()  # its loaders, and every row they hold, go now (Context.release)


class TextFrames(ASGIWebSocketAdapter):
    """graphql-transport-ws messages as text frames: Strawberry sends ``encode_json``'s bytes (orjson, for HTTP)
    as binary frames, which clients (gql, graphql-ws) refuse."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self.send_raw(encode_json(message))

    async def send_raw(self, message: bytes) -> None:
        """A message already encoded (fanout.DirectDelivery), as a text frame."""
        try:
            await self.ws.send({"type": "websocket.send", "text": message.decode()})
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


async def operation_limited(ctx: Context) -> int | None:
    """An operation started on a WebSocket counts as a request does over HTTP: against its address's
    limit and, signed in, its wallet's. The seconds to wait when one is spent, else None."""
    state = ctx.state
    checks: list[tuple[str, int, str | None]] = [(_rate_key(ctx.ip), state.settings.api_rate_ip, None)]
    if ctx.viewer is not None:
        checks.append((f"wallet:{ctx.viewer}", state.settings.api_rate_wallet, ctx.viewer))
    for key, limit, wallet in checks:
        try:
            await hit(state, key, limit)
        except RateLimited as e:
            await audit_rate_limited(state, key, e.retry_after, ctx.ip, ctx.request_id, wallet)
            state.metrics.refusals.labels("rate_limited").inc()
            return e.retry_after
    return None


def _rate_limited_error(retry_after: int) -> Any:
    return {"message": f"rate limited: retry after {retry_after} s", "extensions": {"code": "rate_limited", "retryAfter": retry_after}}


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with each ``subscribe`` rate-limited (an error for that operation; the connection stays)."""

    async def handle_subscribe(self, message: Any) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            retry_after = await operation_limited(self.context)
            if retry_after is not None:
                error = graphql_transport_ws.types.ErrorMessage(id=message["id"], type="error", payload=[_rate_limited_error(retry_after)])
                await self.send_message(error)
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        TRANSPORT_OPERATION.set((self, operation))  # this operation's task only: fanout.DirectDelivery writes through it
        await super().run_operation(operation)


class LegacyWS(BaseGraphQLWSHandler[Context, None]):
    """The older graphql-ws protocol, with each ``start`` rate-limited as above."""

    async def handle_start(self, message: Any) -> None:
        if self.connection_acknowledged:
            retry_after = await operation_limited(self.context)
            if retry_after is not None:
                await self.send_message(
                    graphql_ws.types.ErrorMessage(id=message["id"], type="error", payload=_rate_limited_error(retry_after))
                )
                return
        await super().handle_start(message)


class _BodyTooLarge(Exception):
    pass


def _rate_key(host: str | None) -> str:
    """The per-IP limit's key: an IPv6 client counts by its /64 (one host's usual share, which it may
    pick addresses from at will); an IPv4-mapped address as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(host or "")
    except ValueError:
        return f"ip:{host}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


async def audit_rate_limited(state: ApiState, key: str, retry_after: int, ip: str | None, rid: str | None, wallet: str | None) -> None:
    """One api_audit row (and log line) per key while it stays over its limit, not one per refused request:
    a client hammering past its limit must not turn every refusal into a write to an append-only table."""
    try:
        first = await state.redis.set(f"api:rate-audited:{key}", "1", nx=True, ex=max(1, retry_after))
    except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
        first = True
    if not first:
        return
    scope = key.split(":", 1)[0]
    log.info("rate_limited", scope=scope, ip=ip, wallet=wallet, retry_after=retry_after)
    async with state.pool.acquire() as conn:
        await api_store.audit(conn, "rate_limited", code="rate_limited", wallet=wallet, ip=ip, request_id=rid, detail={"scope": scope})


async def _no_reset(conn: Any) -> None:
    """The API keeps no session state (no LISTEN, advisory locks, SET or cursors), so the
    pool's default reset (four statements on every release) would only cost a round trip."""


def create_app(settings: Settings) -> FastAPI:
    holder: dict[str, ApiState] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await retry(
            lambda: create_pool(settings.database_url, max_size=10, reset=_no_reset),
            transient=is_connection_error,
            policy=DATABASE,
            log=log,
            event="postgres_unavailable",
        )
        # No retries inside redis-py: a request meets a Redis outage at once, not after its backoff.
        redis = aioredis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 0))
        hub = EventHub(pool, settings.redis_url)
        await hub.start()
        state = ApiState(settings=settings, pool=pool, redis=redis, jwt_secret=jwt_secret(settings), hub=hub)
        state.inference = Inference(settings, state.metrics.registry)
        hub.on_batch = state.after_hub_batch
        holder["state"] = state
        app.state.api = state
        log.info("api_started", port=settings.api_port, dev=settings.api_dev)
        try:
            yield
        finally:
            state.metrics.close()
            await state.inference.close()
            await hub.close()
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_dev else None,
        # Our metrics are Prometheus (/metrics); FastAPI's OpenTelemetry hooks would only ask, on every request,
        # whether a provider has been configured since.
        telemetry=NO_TELEMETRY,
    )

    async def context(request: Request = None, websocket: WebSocket = None) -> Context:  # type: ignore[assignment]
        conn = request if request is not None else websocket
        state: ApiState = conn.app.state.api
        rid = conn.scope.get("state", {}).get("request_id", "")
        ctx = Context(state, None, rid, conn.client.host if conn.client else None)
        if request is not None:
            token = auth.bearer(request.headers.get("authorization"))
            if token is not None:
                try:
                    viewer = await auth.viewer_from_token(state, token)
                except auth.AuthError as e:
                    raise await auth.refuse(state, request, e.code) from e
                await wallet_limit(state, viewer.wallet, request)
                ctx.set_viewer(viewer.wallet)
        return ctx

    class Router(GraphQLRouter[Context, None]):
        websocket_adapter_class = TextFrames
        graphql_transport_ws_handler_class = TransportWS
        graphql_ws_handler_class = LegacyWS

        def encode_json(self, data: object) -> bytes:
            return encode_json(data)

        async def get_sub_response(self, request: Request) -> Response:
            # Strawberry's keeps one on the router, set by its FastAPI route; post_graphql does not pass through that
            # route. Made as FastAPI makes a route's: no headers of its own, no status.
            sub = Response()
            del sub.headers["content-length"]
            sub.status_code = None  # type: ignore[assignment]
            return sub

        def decode_json(self, data: str | bytes) -> object:
            # Strawberry answers 400 only to a JSONDecodeError; a body nested past the recursion limit, bytes that
            # are not UTF-8, a number past int()'s digit limit or a JSON that is not an object would be a 500.
            try:
                value = json.loads(data)
            except (ValueError, RecursionError) as e:
                raise json.JSONDecodeError(type(e).__name__, "", 0) from e
            if not isinstance(value, dict | list):
                raise json.JSONDecodeError("not an object", "", 0)
            return value

        async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
            # Strawberry answers a malformed request (bad JSON, no query, ...) in plain text; clients read JSON errors.
            try:
                return await super().run(request, context, root_value)
            except HTTPException as e:
                return _json(e.status_code, {"errors": [{"message": e.reason}]})

        async def execute_single(
            self, request: Any, request_adapter: Any, sub_response: Any, context: Any, root_value: Any, request_data: Any
        ) -> Any:
            if request_adapter.method != "POST":
                return await super().execute_single(request, request_adapter, sub_response, context, root_value, request_data)
            data = request_data
            return await execute_http(self.schema, data.query, data.variables, context, data.operation_name, data.extensions, root_value)

        async def on_ws_connect(self, context: Context) -> Any:
            params = context.connection_params if isinstance(context.connection_params, dict) else {}
            header = params.get("Authorization") or params.get("authorization")
            if header:
                try:
                    token = auth.bearer(str(header))
                    viewer = await auth.viewer_from_token(context.state, token) if token else None
                except auth.AuthError as e:
                    context.state.metrics.refusals.labels(e.code).inc()
                    raise ConnectionRejectionError({"error": e.code}) from e
                context.set_viewer(viewer.wallet if viewer else None)
            return None

    graphql = Router(
        build_schema(settings), context_getter=context, graphql_ide="graphiql" if settings.api_dev else None, allow_queries_via_get=False
    )
    app.include_router(graphql, prefix="/graphql")

    async def post_graphql(request: Request) -> Response:
        """What the route runs (context getter, then Strawberry's view), without FastAPI's routing and dependency injection."""
        try:
            ctx = await context(request)
        except auth.AuthError as e:  # as the auth_error handler below answers it on the route
            return e.response()
        ctx.request = request  # as Strawberry's route sets it (no BackgroundTasks here: nothing of ours uses them)
        plain = await plain_post(request)
        if plain is not None:
            # The view's own steps for an ordinary POST, without its request adapter, content-type parser and
            # JSON module; anything else (and the errors the view words itself) is the view's.
            try:
                result = await execute_http(
                    graphql.schema, plain["query"], plain.get("variables"), ctx, plain.get("operationName"), plain.get("extensions")
                )
            except HTTPException as e:  # raised before anything ran
                return _json(e.status_code, {"errors": [{"message": e.reason}]})
            if isinstance(result, ExecutionResult):
                return Response(encode_json(process_result(result)), media_type="application/json")
        response: Response = await graphql.run(request, context=ctx, root_value=None)
        return response

    app.add_middleware(GraphQLPost, path="/graphql", handle=post_graphql)  # innermost: inside Guard and CORS
    app.include_router(auth.router())

    @app.exception_handler(auth.AuthError)
    async def auth_error(request: Request, exc: auth.AuthError) -> Response:
        return exc.response()

    @app.get("/healthz")
    async def healthz(request: Request) -> Response:
        state: ApiState = request.app.state.api
        checks: dict[str, Any] = {}
        try:
            async with state.pool.acquire() as conn:
                cursors = await conn.fetchval("SELECT 1") and await chain.cursors(conn, settings.mirror_program_id)
            checks["postgres"] = "ok"
        except Exception as e:  # noqa: BLE001 - reported, not raised
            checks["postgres"] = type(e).__name__
            cursors = None
        try:
            await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as e:  # noqa: BLE001
            checks["redis"] = type(e).__name__
        slot = await node_slot(settings.mirror_rpc_url)
        checks["indexer_lag"] = slot - cursors["confirmed"] if slot is not None and cursors else None
        ok = checks["postgres"] == "ok" and checks["redis"] == "ok"
        return _json(200 if ok else 503, {"ok": ok, **checks})

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        state: ApiState = request.app.state.api
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    origins = [o.strip() for o in settings.api_cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(Guard, get_state=lambda: holder.get("state"), settings=settings)
    return app


async def wallet_limit(state: ApiState, wallet: str, request: Request) -> None:
    try:
        await hit(state, f"wallet:{wallet}", state.settings.api_rate_wallet)
    except RateLimited as e:
        await audit_rate_limited(state, f"wallet:{wallet}", e.retry_after, auth.client_ip(request), auth.request_id(request), wallet)
        state.metrics.refusals.labels("rate_limited").inc()
        raise auth.AuthError("rate_limited", 429, {"Retry-After": str(e.retry_after)}) from e
