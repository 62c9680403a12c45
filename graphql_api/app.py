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
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
import structlog
from fastapi import FastAPI, Request, WebSocket
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter

from graphql_api import auth
from graphql_api.context import Context
from graphql_api.hub import EventHub
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
        if any(ip in n for n in self.deny):
            return False
        return not self.allow or any(ip in n for n in self.allow)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        rid = headers.get("x-request-id", "")
        if not _REQUEST_ID.match(rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.bind_contextvars(request_id=rid)
        client = scope.get("client")
        host = client[0] if client else None
        state = self.get_state()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
            await send(message)

        async def refuse(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
            if state is not None:
                state.metrics.refusals.labels(code).inc()
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4403 if status == 403 else 4429})
                return
            await _json(status, {"error": code, "message": message}, extra)(scope, receive, send_with_id)

        try:
            if not self.ip_allowed(host):
                await refuse(403, "ip_denied", "this address may not use the API")
                return
            path = scope.get("path", "")
            if state is not None and (path.startswith("/graphql") or path.startswith("/auth")):
                try:
                    await hit(state, f"ip:{host}", state.settings.api_rate_ip)
                except RateLimited as e:
                    await audit_refusal(state, "rate_limited", host, rid, None, {"scope": "ip"})
                    await refuse(429, "rate_limited", "too many requests from this address", {"Retry-After": str(e.retry_after)})
                    return
            if scope["type"] == "http":
                length = headers.get("content-length")
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


class _BodyTooLarge(Exception):
    pass


async def audit_refusal(state: ApiState, code: str, ip: str | None, rid: str | None, wallet: str | None, detail: dict[str, Any]) -> None:
    async with state.pool.acquire() as conn:
        await api_store.audit(
            conn, "rate_limited" if code == "rate_limited" else "refused", code=code, wallet=wallet, ip=ip, request_id=rid, detail=detail
        )


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
        holder["state"] = state
        app.state.api = state
        log.info("api_started", port=settings.api_port, dev=settings.api_dev)
        try:
            yield
        finally:
            await hub.close()
            await redis.aclose()
            await pool.close()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url="/openapi.json" if settings.api_dev else None)

    async def context(request: Request = None, websocket: WebSocket = None) -> Context:  # type: ignore[assignment]
        conn = request if request is not None else websocket
        state: ApiState = conn.app.state.api
        rid = conn.scope.get("state", {}).get("request_id", "")
        ctx = Context(state, None, rid)
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
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

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
        await audit_refusal(
            state, "rate_limited", auth.client_ip(request), request.headers.get("x-request-id"), wallet, {"scope": "wallet"}
        )
        state.metrics.refusals.labels("rate_limited").inc()
        raise auth.AuthError("rate_limited", 429, {"Retry-After": str(e.retry_after)}) from e
