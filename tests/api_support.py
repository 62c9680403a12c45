"""The API as a real process (`python -m graphql_api`), a GraphQL client (gql), signing in
with a real ed25519 keypair; ``seed`` (read-model rows written straight into PostgreSQL, for
tests that need many of them) lives in ``bench.api.seed``, which the API benchmark shares."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import base58
import httpx
from gql import Client, GraphQLRequest
from gql.transport.httpx import HTTPXAsyncTransport
from solders.keypair import Keypair

from bench.api.seed import address as address  # re-exported: the tests take both from here
from bench.api.seed import seed as seed
from graphql_api.coalesce import Coalescer
from graphql_api.fanout import SharedResults
from graphql_api.state import Metrics
from mirror_common.config import Settings
from mirror_common.pg import Pool
from mirror_common.services import ChildProcess, free_port

DOMAIN = "localhost:59102"
URI = "http://localhost:59102"


class InProcessState:
    """What the executor and the loaders read of the app's state (graphql_api.state.ApiState), for tests that
    execute operations in process."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.settings = Settings()
        self.metrics = Metrics()
        self.shared_results = SharedResults()
        self.lookups = Coalescer(pool, self.metrics)


class ApiProcess(ChildProcess):
    """``python -m graphql_api`` on a free port, against a database and a Redis."""

    def __init__(self, database_url: str, redis_url: str, tmp: Path, rpc_url: str = "http://127.0.0.1:9", **env: str) -> None:
        self.port = free_port()
        super().__init__(
            [sys.executable, "-m", "graphql_api"],
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "MIRROR_RPC_URL": rpc_url,
                "MIRROR_DATA_DIR": str(tmp),
                "API_PORT": str(self.port),
                "API_DOMAIN": DOMAIN,
                "API_URI": URI,
                "API_LOG_JSON": "true",
                "API_JWT_SECRET": "test-secret-" + "x" * 40,
                **env,
            },
            tmp / "api.log",
        )
        self.scheme = "https" if "API_TLS_CERT" in env else "http"

    @property
    def url(self) -> str:
        host = self.env.get("API_HOST", "127.0.0.1")
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self, timeout: float = 20.0, verify: Any = True, ready: tuple[int, ...] = (200, 503)) -> ApiProcess:
        """Waits until /healthz answers one of ``ready`` (403 too for an API whose IP lists refuse this host)."""
        super().start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"API exited: {self.log()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, verify=verify).status_code in ready:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"API not up after {timeout}s: {self.log()}")

    def client(self, token: str | None = None) -> Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return Client(
            transport=HTTPXAsyncTransport(url=f"{self.url}/graphql", headers=headers, timeout=30), fetch_schema_from_transport=False
        )

    async def query(self, text: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        """Runs a query through gql and returns its data (raises on GraphQL errors)."""
        async with self.client(token) as session:
            result: dict[str, Any] = await session.execute(GraphQLRequest(text, variable_values=variables or None))
            return result

    def post(self, text: str, token: str | None = None, **variables: Any) -> httpx.Response:
        """The raw HTTP answer, for checking errors and status codes."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(f"{self.url}/graphql", json={"query": text, "variables": variables}, headers=headers, timeout=30)


def sign_in_message(
    kp: Keypair,
    nonce: str,
    *,
    domain: str = DOMAIN,
    uri: str = URI,
    issued: datetime | None = None,
    expires: datetime | None = None,
    chain: str = "solana:localnet",
) -> str:
    issued = issued or datetime.now(UTC)
    expires = expires or issued + timedelta(minutes=5)

    def iso(t: datetime) -> str:
        return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return (
        f"{domain} wants you to sign in with your Solana account:\n{kp.pubkey()}\n\nSign in to Mirror Reality.\n\n"
        f"URI: {uri}\nVersion: 1\nChain ID: {chain}\nNonce: {nonce}\nIssued At: {iso(issued)}\nExpiration Time: {iso(expires)}"
    )


def sign(kp: Keypair, message: str) -> str:
    return base58.b58encode(bytes(kp.sign_message(message.encode()))).decode()


def sign_in(api: ApiProcess, kp: Keypair, totp: str | None = None) -> str:
    """A real Sign-In With Solana round trip; the JWT."""
    nonce = httpx.post(f"{api.url}/auth/nonce", json={"address": str(kp.pubkey())}).json()
    message = nonce["message"]
    r = httpx.post(f"{api.url}/auth/verify", json={"message": message, "signature": sign(kp, message), "totp": totp})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def create_database(admin_url: str) -> str:
    """A fresh, migrated database on the cluster of ``admin_url``; its URL (for module-scoped fixtures)."""
    import uuid

    import asyncpg

    from indexer.migrate import migrate

    name = f"api_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    await migrate(url)
    return url


@dataclass
class Stack:
    """The indexer and the API as processes over one database, and a connection to it."""

    indexer: Any  # tests.indexer_support.IndexerProcess
    api: ApiProcess
    db: asyncpg.Connection


@asynccontextmanager
async def full_stack(rpc_url: str, database: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    """localnet -> indexer -> PostgreSQL/Redis -> API, waiting until the indexer is live."""
    from tests.indexer_support import IndexerProcess, eventually

    indexer = IndexerProcess(rpc_url, database, redis_url, tmp_path / "indexer.log").start()
    api = ApiProcess(database, redis_url, tmp_path, rpc_url=rpc_url).start()
    db = await asyncpg.connect(database)
    try:
        await eventually(lambda: db.fetchval("SELECT count(*) FROM config"), what="indexer live", timeout=60)
        yield Stack(indexer, api, db)
    finally:
        await db.close()
        api.stop()
        indexer.stop()
