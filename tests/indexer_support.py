"""Helpers for the indexer tests (the indexer as a real process, polling, a mirror's life) and for any test that
cuts a process off from the node or the database (``TcpProxy``, ``RpcFilter``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from aiohttp import web
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from mirror_common import codec
from mirror_common.services import IndexerProcess
from mirror_common.wallet import Wallet
from tests.test_localnet_mirror_flow import DATASET_CID, MODEL_CID, PARAMS

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 30.0, what: str = "condition") -> T:
    """Polls `check` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value {last!r}")


class MirrorLife:
    """Sends a mirror's life over RPC: create, update, grants, jobs, transfer..."""

    def __init__(self, rpc: AsyncClient, trainer: Keypair) -> None:
        self.wallet = Wallet(rpc)
        self.rpc = rpc
        self.trainer = trainer
        self.config = codec.config_pda()
        self.trainer_account = codec.trainer_pda(trainer.pubkey())

    async def create(self, owner: Keypair, mirror_id: int, name: str = "Ada", visibility: str = "Private") -> Pubkey:
        mirror = codec.mirror_pda(owner.pubkey(), mirror_id)
        await self.wallet.send(
            "create_mirror",
            {"mirror_id": mirror_id, "name": name, "metadata_uri": f"ipfs://{name}", "visibility": visibility},
            {"config": self.config, "mirror": mirror, "creator": owner.pubkey()},
            owner,
        )
        return mirror

    async def update(self, owner: Keypair, mirror: Pubkey, name: str, visibility: str | None = "Public") -> None:
        await self.wallet.send(
            "update_mirror",
            {"name": name, "metadata_uri": None, "visibility": visibility},
            {"config": self.config, "mirror": mirror, "authority": owner.pubkey()},
            owner,
        )

    async def grant(self, owner: Keypair, mirror: Pubkey, grantee: Pubkey, permissions: int, expires_at: int = 0) -> Pubkey:
        grant = codec.grant_pda(mirror, grantee)
        await self.wallet.send(
            "grant_access",
            {"grantee": grantee, "permissions": permissions, "expires_at": expires_at},
            {"config": self.config, "mirror": mirror, "grant": grant, "owner": owner.pubkey()},
            owner,
        )
        return grant

    async def revoke(self, owner: Keypair, mirror: Pubkey, grantee: Pubkey) -> None:
        grant = codec.grant_pda(mirror, grantee)
        await self.wallet.send("revoke_access", {}, {"mirror": mirror, "grant": grant, "owner": owner.pubkey()}, owner)

    async def request(self, owner: Keypair, mirror: Pubkey, job_id: int, *, start_fresh: bool = False) -> Pubkey:
        job = codec.job_pda(mirror, job_id)
        await self.wallet.send(
            "request_training",
            {"dataset_cid": DATASET_CID, "params": {**PARAMS, "start_fresh": start_fresh}},
            {"config": self.config, "mirror": mirror, "job": job, "requester": owner.pubkey()},
            owner,
        )
        return job

    async def start(self, mirror: Pubkey, job: Pubkey) -> None:
        await self.wallet.send(
            "start_training",
            {},
            {"config": self.config, "mirror": mirror, "job": job, "trainer": self.trainer_account, "authority": self.trainer.pubkey()},
            self.trainer,
        )

    async def complete(self, mirror: Pubkey, job: Pubkey, version: int, loss: int = 1_500_000) -> Pubkey:
        model = codec.model_pda(mirror, version)
        await self.wallet.send(
            "complete_training",
            {
                "version": version,
                "model_cid": MODEL_CID,
                "weights_sha256": "ab" * 32,
                "metrics": {"final_loss_micros": loss, "tokens_trained": 4096},
            },
            {
                "config": self.config,
                "mirror": mirror,
                "job": job,
                "model": model,
                "trainer": self.trainer_account,
                "authority": self.trainer.pubkey(),
            },
            self.trainer,
        )
        return model

    async def train(self, owner: Keypair, mirror: Pubkey, job_id: int, version: int) -> tuple[Pubkey, Pubkey]:
        """A job that runs to completion: request, start, complete. Returns (job, model)."""
        job = await self.request(owner, mirror, job_id)
        await self.start(mirror, job)
        return job, await self.complete(mirror, job, version)

    async def fail(self, job: Pubkey, code: int) -> None:
        await self.wallet.send(
            "fail_training",
            {"reason_code": code},
            {"job": job, "trainer": self.trainer_account, "authority": self.trainer.pubkey()},
            self.trainer,
        )

    async def cancel(self, owner: Keypair, mirror: Pubkey, job: Pubkey) -> None:
        await self.wallet.send("cancel_training", {}, {"mirror": mirror, "job": job, "authority": owner.pubkey()}, owner)

    async def transfer(self, owner: Keypair, mirror: Pubkey, new_owner: Pubkey) -> None:
        await self.wallet.send(
            "transfer_mirror",
            {"new_owner": new_owner},
            {"config": self.config, "mirror": mirror, "owner": owner.pubkey()},
            owner,
        )

    async def freeze(self, owner: Keypair, mirror: Pubkey) -> None:
        await self.wallet.send("freeze_mirror", {}, {"mirror": mirror, "owner": owner.pubkey()}, owner)


async def chain_event_ids(rpc_url: str) -> set[tuple[str, int]]:
    """(signature, event_index) of every Mirror event the node holds, read independently
    of any database: all signatures of the program, each transaction decoded."""
    from indexer.decode import decode_tx
    from indexer.source import Rpc
    from mirror_common.config import MIRROR_PROGRAM_ID

    client = Rpc(rpc_url)
    try:
        sigs = [s["signature"] for s in await client.signatures_since(MIRROR_PROGRAM_ID, None)]
        out: set[tuple[str, int]] = set()
        for i in range(0, len(sigs), 100):
            for sig, tx in (await client.transactions(sigs[i : i + 100])).items():
                assert tx is not None, sig
                out.update((e.signature, e.event_index) for e in decode_tx(tx, MIRROR_PROGRAM_ID).events)
        return out
    finally:
        await client.close()


async def assert_exactly_the_chain(database_url: str, rpc_url: str, timeout: float = 60.0) -> None:
    """Waits until the database holds every event of the chain, then checks: no event
    missing, none extra or twice, and reconcile finds no drift."""
    import asyncpg

    from indexer.reconcile import reconcile
    from indexer.source import Rpc
    from mirror_common.config import MIRROR_PROGRAM_ID
    from mirror_common.pg import create_pool

    expected = await chain_event_ids(rpc_url)
    conn = await asyncpg.connect(database_url)
    try:

        async def stored() -> set[tuple[str, int]]:
            return {(r["signature"], r["event_index"]) for r in await conn.fetch("SELECT signature, event_index FROM chain_events")}

        async def caught_up() -> bool:
            return expected <= await stored()

        await eventually(caught_up, timeout, "every chain event in chain_events")
        rows = await conn.fetchval("SELECT count(*) FROM chain_events")
        assert await stored() == expected and rows == len(expected), "chain_events differs from the chain"
    finally:
        await conn.close()
    pool = await create_pool(database_url)
    client = Rpc(rpc_url)
    try:
        report = await reconcile(pool, client, MIRROR_PROGRAM_ID)
        assert report.drift == [], report.drift
    finally:
        await client.close()
        await pool.close()


class Traffic:
    """Keeps Mirror transactions coming: creates and updates from a few wallets."""

    def __init__(self, rpc: AsyncClient, trainer: Keypair, wallets: list[Keypair], base_id: int) -> None:
        self.life = MirrorLife(rpc, trainer)
        self.wallets = wallets
        self.base_id = base_id
        self.sent = 0
        self.errors: list[BaseException] = []

    async def run(self, mirrors: int, pause: float = 0.0) -> None:
        """Creates `mirrors` mirrors and updates each once (2 transactions a mirror)."""
        for j in range(mirrors):
            owner = self.wallets[j % len(self.wallets)]
            mirror_id = self.base_id + j
            try:
                mirror = await self.life.create(owner, mirror_id, f"m{mirror_id}")
                self.sent += 1
                await self.life.update(owner, mirror, f"m{mirror_id}-2")
                self.sent += 1
            except Exception as e:  # noqa: BLE001 - the test reports them
                self.errors.append(e)
            if pause:
                await asyncio.sleep(pause)


class TcpProxy:
    """A TCP proxy in the test's event loop, to cut a process off from the node:
    ``cut()`` drops every open connection, ``refuse`` closes new ones at once, ``stall`` takes new
    ones and never reads or answers on them (a server that hangs)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refuse = False
        self.stall = False
        self.port = 0
        self.accepted = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refuse:
            writer.close()
            return
        if self.stall:
            self._writers.add(writer)  # held open, silent, until cut()
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    @staticmethod
    async def in_front_of(url: str) -> tuple[TcpProxy, str]:
        """A started proxy to the port of ``url`` (a database or node URL), and ``url`` through it."""
        parts = urlsplit(url)
        proxy = await TcpProxy(parts.port or 5432).start()
        return proxy, urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.port}", f":{proxy.port}")))

    def cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server:
            self._server.close()


class RpcFilter:
    """An HTTP proxy in the test's event loop in front of the node's JSON-RPC, answering 503 (what a
    node or load balancer says when it cannot serve) to the methods named in ``blocked``: to make one
    step of a client fail (say, confirming a transaction it has sent) while the rest goes through."""

    def __init__(self, target_url: str) -> None:
        self.target_url = target_url
        self.blocked: set[str] = set()
        self.refused = 0
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._client = httpx.AsyncClient(timeout=30)

    async def start(self) -> RpcFilter:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        calls = json.loads(body)
        methods = {c.get("method") for c in (calls if isinstance(calls, list) else [calls]) if isinstance(c, dict)}
        if methods & self.blocked:
            self.refused += 1
            return web.Response(status=503, text="unavailable")
        reply = await self._client.post(self.target_url, content=body, headers={"content-type": "application/json"})
        return web.Response(body=reply.content, status=reply.status_code, content_type="application/json")

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self._client.aclose()


async def index_to_the_chain(rpc_url: str, database_url: str, redis_url: str, log: Path) -> None:
    """Runs `python -m indexer` until the database holds exactly the chain's events, then stops it."""
    indexer = IndexerProcess(rpc_url, database_url, redis_url, log).start()
    try:
        await assert_exactly_the_chain(database_url, rpc_url)
    finally:
        indexer.stop()
