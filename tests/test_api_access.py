"""Authorization from the chain's indexed grants, on every path: the viewer table.

A private mirror's life runs on mirror-localnet, the indexer (a process) writes the read
models, and the API (a process) answers each viewer: owner, VIEW grantee, expired
grantee, revoked grantee, grantee of a previous owner, stranger, anonymous. Then a
revocation on chain is seen by the next request once the indexer commits it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from mirror_common.localnet import Localnet
from mirror_common.services import Redis
from tests.api_support import full_stack, sign_in
from tests.conftest import funded
from tests.indexer_support import MirrorLife, eventually

FULL = """query($a: Address!) { mirror(address: $a) {
  address owner visibility creator mirrorId name metadataUri status modelVersion jobCount createdAt updatedAt createdSlot
  createdSignature commitment
  latestModel { version } grants { totalCount } trainingJobs { totalCount edges { node { datasetCid } } }
  modelVersions { totalCount } events { totalCount } } }"""
PRIVATE_FIELDS = (
    "creator",
    "mirrorId",
    "name",
    "metadataUri",
    "status",
    "modelVersion",
    "jobCount",
    "createdAt",
    "updatedAt",
    "createdSlot",
    "createdSignature",
    "commitment",
    "latestModel",
    "grants",
    "trainingJobs",
    "modelVersions",
    "events",
)
PATHS = """query($a: Address!) {
  trainingJobs(filter: {mirror: $a}) { totalCount } modelVersions(filter: {mirror: $a}) { totalCount }
  events(filter: {mirror: $a}) { totalCount } mirrors(filter: {nameContains: "Secret"}) { totalCount } }"""


async def test_every_viewer_sees_what_the_chain_grants_it(
    rpc: AsyncClient, localnet: Localnet, trainer: Keypair, database: str, redis_server: Redis, tmp_path: Path
) -> None:
    async with full_stack(localnet.rpc_url, database, redis_server.url, tmp_path) as stack:
        api, db = stack.api, stack.db
        life = MirrorLife(rpc, trainer)
        seller, owner = await funded(rpc, 5), await funded(rpc, 5)
        viewer, expired, revoked, sellers_grantee, stranger = (Keypair() for _ in range(5))
        mirror = await life.create(seller, 7, "Secret Ada", "Private")
        await life.grant(seller, mirror, sellers_grantee.pubkey(), 1)
        await life.transfer(seller, mirror, owner.pubkey())
        await life.grant(owner, mirror, viewer.pubkey(), 1 | 2)
        await life.grant(owner, mirror, revoked.pubkey(), 1)
        await life.revoke(owner, mirror, revoked.pubkey())
        expiry = int(time.time()) + 3
        await life.grant(owner, mirror, expired.pubkey(), 1, expires_at=expiry)
        await life.train(owner, mirror, 0, 1)
        model_count = "SELECT count(*) FROM model_versions WHERE mirror = $1"
        await eventually(lambda: db.fetchval(model_count, str(mirror)), what="model indexed", timeout=60)
        await asyncio.sleep(max(0.0, expiry + 1 - time.time()))

        tokens: dict[str, str | None] = {"anonymous": None}
        for name, kp in (
            ("owner", owner),
            ("viewer", viewer),
            ("expired", expired),
            ("revoked", revoked),
            ("sellers_grantee", sellers_grantee),
            ("stranger", stranger),
            ("seller", seller),
        ):
            tokens[name] = sign_in(api, kp)
        table: dict[str, dict[str, Any]] = {}
        for name, token in tokens.items():
            table[name] = (await api.query(FULL, token, a=str(mirror)))["mirror"]
            table[name]["paths"] = await api.query(PATHS, token, a=str(mirror))
        for name in ("owner", "viewer"):
            m = table[name]
            assert m["name"] == "Secret Ada" and m["metadataUri"] == "ipfs://Secret Ada" and m["creator"] == str(seller.pubkey())
            assert m["latestModel"] == {"version": "1"} and m["trainingJobs"]["totalCount"] == 1 and m["modelVersions"]["totalCount"] == 1
            assert m["grants"]["totalCount"] == 4 and m["events"]["totalCount"] >= 8
            assert m["trainingJobs"]["edges"][0]["node"]["datasetCid"]
            assert {k: v["totalCount"] for k, v in m["paths"].items()} == {
                "trainingJobs": 1,
                "modelVersions": 1,
                "events": m["events"]["totalCount"],
                "mirrors": 1,
            }, name
        for name in ("expired", "revoked", "sellers_grantee", "stranger", "seller", "anonymous"):
            m = table[name]
            assert m["address"] == str(mirror) and m["owner"] == str(owner.pubkey()) and m["visibility"] == "PRIVATE", name
            assert all(m[f] is None for f in PRIVATE_FIELDS), (name, {f: m[f] for f in PRIVATE_FIELDS if m[f] is not None})
            assert {k: v["totalCount"] for k, v in m["paths"].items()} == {
                "trainingJobs": 0,
                "modelVersions": 0,
                "events": 0,
                "mirrors": 0,
            }, name
        # A grantee sees the grant it holds, and that it no longer counts.
        held = await api.query("{ me { grants { edges { node { effective revokedAt mirror { name } } } } } }", tokens["revoked"])
        assert [e["node"]["effective"] for e in held["me"]["grants"]["edges"]] == [False]
        assert held["me"]["grants"]["edges"][0]["node"]["mirror"]["name"] is None

        # Revoked on chain: the next request sees it once the indexer has committed it.
        await life.revoke(owner, mirror, viewer.pubkey())
        revoked_q = "SELECT revoked_at_unix FROM access_grants WHERE mirror = $1 AND grantee = $2"
        await eventually(lambda: db.fetchval(revoked_q, str(mirror), str(viewer.pubkey())), what="revocation indexed")
        after = (await api.query(FULL, tokens["viewer"], a=str(mirror)))["mirror"]
        assert after["name"] is None and after["trainingJobs"] is None
