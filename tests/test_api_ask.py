"""``ask`` end to end: a real model (trained here on a tiny config), its artifact in the embedded
content store (sealed to the owner and the inference key for the private mirror), read-model rows
in PostgreSQL, and the API as a process over Redis.

What each test shows:
- public mirror: the API's answer is exactly what the model generates (computed here from the same
  artifact, same seed); the latest version answers; the stream gives the query's text for one seed;
  concurrent asks interleave on the one worker thread without mixing, and a subscriber that leaves
  mid-stream frees it.
- private mirror (sealed artifact, opened with the inference key): owner and INFER grantee are
  answered; VIEW-only, revoked, expired and previous-owner grantees, a stranger and an anonymous
  viewer are refused (query and subscription); each refusal has its code.
- bad arguments and missing things each get their code; a model whose sha256 does not match is
  ``model_corrupt`` and the server goes on answering; a model sealed to other keys is ``model_sealed``;
  a model whose finite weights overflow into non-finite logits is ``model_corrupt``, remembered.
- the edges: ``maxTokens`` 2^31-1 (``bad_max_tokens``) and 2^31 (not a GraphQL Int: a validation
  error, not a masked one), a prompt with U+0000, 4-byte UTF-8 exactly at the byte limit (answered)
  and one character over (``prompt_too_long``), subnormal temperatures (answered, greedily).
- the ask rate limit, per wallet, with ``retryAfter``.
- ``python -m trainer.ask --mirror`` answers what the API answers; a model with non-finite logits
  and a key file that is not a keypair are each one line on stderr, no traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import torch
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from solders.keypair import Keypair

from mirror_common.config import REPO_ROOT, Settings
from mirror_common.ipfs import open_store
from mirror_common.services import Postgres, Redis
from tests.api_support import ApiProcess, address, create_database, sign_in
from trainer import artifact, infer, train
from trainer.envelope import seal, x25519_keypair_from_solana
from trainer.model import ModelConfig, build_model

torch.set_num_threads(1)
TINY = ModelConfig.named("tiny")
INFERENCE_KEY = REPO_ROOT / "keys" / "dev" / "localnet-inference-keypair.json"
ASK = """query($m: Address!, $p: String!, $n: Int! = 40, $t: Float! = 0, $k: Int = 40, $s: I64) {
  ask(mirror: $m, prompt: $p, maxTokens: $n, temperature: $t, topK: $k, seed: $s) { text modelVersion tokens } }"""
STREAM = """subscription($m: Address!, $p: String!, $n: Int! = 40, $t: Float! = 0, $s: I64) {
  askStream(mirror: $m, prompt: $p, maxTokens: $n, temperature: $t, seed: $s) { text modelVersion tokens } }"""
PROMPT = "the mirror "
ASK_RATE = 6
MAX_PROMPT = 64


@dataclass
class World:
    api: ApiProcess
    database: str
    data_dir: Path
    model: infer.LoadedModel  # the artifact as loaded here, to compute what the API must answer
    public: str  # versions 1 (corrupt: its sha256 is not its artifact's) and 2 (good)
    private: str  # version 1, sealed to the owner and the inference key
    corrupt: str  # public, one version whose sha256 does not match
    sealed_elsewhere: str  # public, sealed to keys the API does not hold
    empty: str  # public, no model yet
    overflowing: str  # public, a model whose weights are finite but whose logits are not
    overflowing_ref: tuple[str, str]  # its CID and sha256
    owner: Keypair
    tokens: dict[str, str]  # signed-in viewers of the private mirror


def overflowing_artifact() -> tuple[bytes, str]:
    """Weights that pass every check of ``load_artifact`` (finite) and overflow at the first step: NaN logits."""
    weights = {k: v.detach().clone() for k, v in build_model(TINY, seed=1).state_dict().items()}
    weights["wte.weight"].fill_(3e38)
    blob = artifact.encode_artifact(weights, TINY, {}, {"note": "overflows"})
    return blob, artifact.sha256_hex(blob)


def key_file(tmp: Path, kp: Keypair) -> Path:
    path = tmp / f"{kp.pubkey()}.json"
    path.write_text(json.dumps(list(bytes(kp))))
    return path


async def add_mirror(conn: asyncpg.Connection, owner: str, visibility: str) -> str:
    m, t = address(), int(time.time())
    await conn.execute(
        """INSERT INTO mirrors (address, creator, owner, mirror_id, name, metadata_uri, visibility, status, model_version, job_count,
                                created_at, updated_at, created_slot, created_signature, last_slot, created_at_unix, updated_at_unix)
           VALUES ($1, $2, $2, 1, 'ask me', 'ipfs://m', $3, 'Active', 0, 0, to_timestamp($4), to_timestamp($4), 10, 'sig', 10, $4, $4)""",
        m,
        owner,
        visibility,
        t,
    )
    return m


async def add_model(conn: asyncpg.Connection, mirror: str, version: int, cid: str, sha256: str) -> None:
    t = int(time.time())
    await conn.execute(
        """INSERT INTO model_versions (address, mirror, version, job, model_cid, weights_sha256, final_loss_micros, tokens_trained,
               created_at, last_slot, created_at_unix)
           VALUES ($1, $2, $3, $4, $5, $6, 1500000, 4096, to_timestamp($7), 12, $7)""",
        address(),
        mirror,
        version,
        address(),
        cid,
        sha256,
        t,
    )


async def add_grant(
    conn: asyncpg.Connection, mirror: str, grantee: str, permissions: int, granted_by: str, *, expires_at: int = 0, revoked: bool = False
) -> None:
    t = int(time.time())
    await conn.execute(
        """INSERT INTO access_grants (address, mirror, grantee, permissions, granted_by, granted_at, updated_at, last_slot,
               expires_at_unix, granted_at_unix, updated_at_unix, revoked_at_unix)
           VALUES ($1, $2, $3, $4, $5, to_timestamp($6), to_timestamp($6), 13, $7, $6, $6, $8)""",
        address(),
        mirror,
        grantee,
        permissions,
        granted_by,
        t,
        expires_at,
        t if revoked else None,
    )


@pytest.fixture(scope="module")
async def world(postgres: Postgres, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("ask")
    data = ("the mirror answers what it was taught. " * 60).encode()
    params = train.TrainingParams(epochs=1, seq_len=32, batch_size=8, learning_rate_micros=3_000)
    result = await asyncio.to_thread(train.train, data, params, TINY, seed=5, limits=train.TrainingLimits(max_steps=12))
    blob, sha = artifact.build_artifact(result, TINY, job="Job1")
    _, other_sha = artifact.build_artifact(result, TINY, job="Job2")  # same weights, another artifact: another sha256
    third_blob, third_sha = artifact.build_artifact(result, TINY, job="Job3")
    owner, previous_owner = Keypair(), Keypair()
    store = open_store(Settings(mirror_data_dir=tmp))
    inference_public = x25519_keypair_from_solana(Keypair.from_bytes(bytes(json.loads(INFERENCE_KEY.read_text()))))[0]
    cid = await store.put(blob)
    sealed_cid = await store.put(seal(blob, [x25519_keypair_from_solana(owner)[0], inference_public]))
    elsewhere_cid = await store.put(seal(third_blob, [x25519_keypair_from_solana(Keypair())[0]]))
    overflowing_blob, overflowing_sha = overflowing_artifact()
    overflowing_cid = await store.put(overflowing_blob)
    await store.close()

    database = await create_database(postgres.url)
    conn = await asyncpg.connect(database)
    viewers = {name: Keypair() for name in ("infer", "view_only", "revoked", "expired", "sellers", "stranger")}
    try:
        public = await add_mirror(conn, address(), "Public")
        await add_model(conn, public, 1, cid, other_sha)
        await add_model(conn, public, 2, cid, sha)
        private = await add_mirror(conn, str(owner.pubkey()), "Private")
        await add_model(conn, private, 1, sealed_cid, sha)
        me = str(owner.pubkey())
        await add_grant(conn, private, str(viewers["infer"].pubkey()), 2, me)
        await add_grant(conn, private, str(viewers["view_only"].pubkey()), 1, me)
        await add_grant(conn, private, str(viewers["revoked"].pubkey()), 3, me, revoked=True)
        await add_grant(conn, private, str(viewers["expired"].pubkey()), 3, me, expires_at=int(time.time()) - 10)
        await add_grant(conn, private, str(viewers["sellers"].pubkey()), 3, str(previous_owner.pubkey()))
        corrupt = await add_mirror(conn, address(), "Public")
        await add_model(conn, corrupt, 1, cid, other_sha)
        sealed_elsewhere = await add_mirror(conn, address(), "Public")
        await add_model(conn, sealed_elsewhere, 1, elsewhere_cid, third_sha)  # its own sha256: not one the API holds already
        empty = await add_mirror(conn, address(), "Public")
        overflowing = await add_mirror(conn, address(), "Public")
        await add_model(conn, overflowing, 1, overflowing_cid, overflowing_sha)
    finally:
        await conn.close()
    assert len({sha, other_sha, third_sha}) == 3

    api = ApiProcess(
        database,
        redis_server.url,
        tmp,
        API_RATE_IP="0",
        API_ASK_RATE=str(ASK_RATE),
        API_ASK_MAX_TOKENS="100",
        API_ASK_MAX_PROMPT=str(MAX_PROMPT),
        MIRROR_INFERENCE_KEYPAIR=str(INFERENCE_KEY),
    ).start()
    try:
        tokens = {name: sign_in(api, kp) for name, kp in [("owner", owner), *viewers.items()]}
        # The first ask imports torch and loads the model: seconds, more on a busy machine than a client waits by default.
        warm = httpx.post(f"{api.url}/graphql", json={"query": ASK, "variables": {"m": public, "p": "", "n": 0}}, timeout=300)
        assert warm.json()["data"]["ask"]["modelVersion"] == 2, warm.text
        model = infer.ModelCache(max_models=1).load(cid, blob, sha)
        yield World(
            api,
            database,
            tmp,
            model,
            public,
            private,
            corrupt,
            sealed_elsewhere,
            empty,
            overflowing,
            (overflowing_cid, overflowing_sha),
            owner,
            tokens,
        )
    finally:
        api.stop()


@pytest.fixture(autouse=True)
async def fresh_ask_limits(redis_server: Redis) -> AsyncIterator[None]:
    """Each test starts with no ask counted against this host's address (anonymous asks share it)."""
    client = aioredis.from_url(redis_server.url)
    try:
        async for key in client.scan_iter("api:rate:ask:*"):
            await client.delete(key)
        yield
    finally:
        await client.aclose()


def expected(world: World, prompt: str, max_tokens: int, temperature: float = 0.0, seed: int | None = None) -> str:
    """What the model generates, computed here (same sampler, same seed: same bytes)."""
    return infer.complete(world.model.model, prompt, max_tokens=max_tokens, temperature=temperature, top_k=40, seed=seed)


def code_of(api: ApiProcess, query: str, token: str | None = None, **variables: Any) -> tuple[str, dict[str, Any]]:
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    body = json.dumps({"query": query, "variables": variables})  # ASCII escapes: a lone surrogate travels as JSON allows
    r = httpx.post(f"{api.url}/graphql", content=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"]["ask"] is None and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert "Traceback" not in r.text and "SELECT" not in r.text
    return error["extensions"]["code"], error


def ws_client(api: ApiProcess, token: str | None = None) -> Client:
    init = {"Authorization": f"Bearer {token}"} if token else {}
    transport = WebsocketsTransport(
        url=api.url.replace("http", "ws") + "/graphql", subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], init_payload=init
    )
    return Client(transport=transport)


async def stream(api: ApiProcess, token: str | None = None, **variables: Any) -> list[dict[str, Any]]:
    async with ws_client(api, token) as session:
        return [item["askStream"] async for item in session.subscribe(GraphQLRequest(STREAM, variable_values=variables))]


async def test_a_public_mirror_answers_with_its_latest_model_and_the_stream_matches(world: World) -> None:
    api = world.api
    answer = (await api.query(ASK, m=world.public, p=PROMPT, n=40))["ask"]
    assert answer["modelVersion"] == 2  # version 1 is corrupt: the latest is the one asked
    assert answer["text"] == expected(world, PROMPT, 40) and answer["text"]
    assert answer["tokens"] == len(answer["text"].encode()) <= 40

    sampled = (await api.query(ASK, m=world.public, p=PROMPT, n=60, t=0.9, s="7"))["ask"]
    assert sampled["text"] == expected(world, PROMPT, 60, 0.9, 7) and len(set(sampled["text"])) > 3
    pieces = await stream(api, m=world.public, p=PROMPT, n=60, t=0.9, s="7")
    assert pieces[0] == {"text": "", "modelVersion": 2, "tokens": 0}  # the model is loaded: its version, before any text
    assert len(pieces) > 2 and all(p["text"] and p["modelVersion"] == 2 for p in pieces[1:])
    assert "".join(p["text"] for p in pieces) == sampled["text"]
    assert sum(p["tokens"] for p in pieces) == sampled["tokens"]
    again = (await api.query(ASK, m=world.public, p=PROMPT, n=60, t=0.9, s="7"))["ask"]
    assert again == sampled  # a seed repeats

    nothing = (await api.query(ASK, m=world.public, p=PROMPT, n=0))["ask"]
    assert nothing == {"text": "", "modelVersion": 2, "tokens": 0}


async def test_concurrent_asks_share_the_worker_without_mixing_and_a_dropped_stream_frees_it(world: World) -> None:
    api = world.api
    async with ws_client(api) as session:  # a subscriber that leaves after the first piece of text
        async for item in session.subscribe(GraphQLRequest(STREAM, variable_values={"m": world.public, "p": PROMPT, "n": 100, "t": 0.9})):
            if item["askStream"]["text"]:
                break
    seeds = (11, 12, 13)
    answers = await asyncio.gather(*(api.query(ASK, m=world.public, p=PROMPT, n=50, t=0.9, s=str(s)) for s in seeds))
    assert [a["ask"]["text"] for a in answers] == [expected(world, PROMPT, 50, 0.9, s) for s in seeds]


async def test_a_private_mirror_answers_its_owner_and_infer_grantees_only(world: World) -> None:
    api, tokens = world.api, world.tokens
    want = expected(world, PROMPT, 30, 0.9, 3)
    for name in ("owner", "infer"):  # the sealed artifact opened with the inference key
        answer = (await api.query(ASK, tokens[name], m=world.private, p=PROMPT, n=30, t=0.9, s="3"))["ask"]
        assert answer == {"text": want, "modelVersion": 1, "tokens": len(want.encode())}, name
    pieces = await stream(api, tokens["infer"], m=world.private, p=PROMPT, n=30, t=0.9, s="3")
    assert "".join(p["text"] for p in pieces) == want

    refused: dict[str, str] = {}
    for viewer in ("view_only", "revoked", "expired", "sellers", "stranger", None):
        code, error = code_of(api, ASK, tokens[viewer] if viewer else None, m=world.private, p=PROMPT, n=30)
        assert "INFER grant" in error["message"]
        refused[viewer or "anonymous"] = code
    assert set(refused.values()) == {"forbidden"}, refused
    for viewer in ("view_only", None):  # the subscription is guarded by the same permission
        with pytest.raises(TransportQueryError) as e:
            await stream(api, tokens[viewer] if viewer else None, m=world.private, p=PROMPT, n=30)
        assert e.value.errors and e.value.errors[0]["extensions"]["code"] == "forbidden"


async def test_every_bad_ask_gets_its_code_and_the_server_keeps_serving(world: World) -> None:
    api = world.api
    cases: list[tuple[dict[str, Any], str]] = [
        ({"m": world.public, "n": 101}, "bad_max_tokens"),
        ({"m": world.public, "n": -1}, "bad_max_tokens"),
        ({"m": world.public, "p": "x" * (MAX_PROMPT + 1)}, "prompt_too_long"),
        ({"m": world.public, "p": "é" * (MAX_PROMPT // 2 + 1)}, "prompt_too_long"),  # bytes, not characters
        ({"m": world.public, "p": "\ud800"}, "bad_prompt"),
        ({"m": world.public, "t": -0.5}, "bad_temperature"),
        ({"m": world.public, "t": 1e9}, "bad_temperature"),
        ({"m": world.public, "k": 0}, "bad_top_k"),
        ({"m": world.public, "k": 257}, "bad_top_k"),
        ({"m": address()}, "mirror_not_found"),
        ({"m": world.empty}, "no_model"),
        ({"m": world.corrupt}, "model_corrupt"),
        ({"m": world.corrupt}, "model_corrupt"),  # remembered: refused again without a second load
        ({"m": world.sealed_elsewhere}, "model_sealed"),
    ]
    for variables, want in cases:
        code, _ = code_of(api, ASK, **{"p": PROMPT, **variables})
        assert code == want, (variables, code)
    r = api.post('{ ask(mirror: "not-a-key", prompt: "x") { text } }')
    assert "base58" in r.json()["errors"][0]["message"]
    answer = (await api.query(ASK, m=world.public, p=PROMPT, n=20))["ask"]
    assert answer["text"] == expected(world, PROMPT, 20)
    metrics = httpx.get(f"{api.url}/metrics").text
    assert 'mirror_api_asks_total{code="model_corrupt"}' in metrics and "mirror_api_ask_tokens_total" in metrics


async def test_a_model_whose_logits_overflow_is_model_corrupt_and_the_server_keeps_serving(world: World) -> None:
    api = world.api
    for temperature in (0.8, 0):  # were "Unexpected error." (torch.multinomial on NaN) and NUL bytes, answered
        code, error = code_of(api, ASK, m=world.overflowing, p=PROMPT, t=temperature)
        assert code == "model_corrupt" and "non-finite logits" in error["message"], error
    pieces: list[str] = []
    with pytest.raises(TransportQueryError) as refused:
        async with ws_client(api) as session:
            async for item in session.subscribe(GraphQLRequest(STREAM, variable_values={"m": world.overflowing, "p": PROMPT})):
                pieces.append(item["askStream"]["text"])
    assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] == "model_corrupt"
    assert "".join(pieces) == ""  # not one NUL byte
    assert (await api.query(ASK, m=world.public, p=PROMPT, n=20))["ask"]["text"] == expected(world, PROMPT, 20)


async def test_the_edges_of_the_arguments(world: World) -> None:
    api = world.api
    code, error = code_of(api, ASK, m=world.public, p=PROMPT, n=2**31 - 1)  # the largest GraphQL Int
    assert code == "bad_max_tokens" and str(2**31 - 1) in error["message"]
    r = api.post(ASK, m=world.public, p=PROMPT, n=2**31)  # not a GraphQL Int: refused before any resolver
    body = r.json()
    assert body.get("data") is None and len(body["errors"]) == 1, body
    assert "32-bit" in body["errors"][0]["message"] and "Unexpected error" not in r.text, body

    nul = "\x00the\x00mirror\x00"  # U+0000 is text: the model sees its byte like any other
    assert (await api.query(ASK, m=world.public, p=nul, n=30))["ask"]["text"] == expected(world, nul, 30)
    at_limit = "😀" * (MAX_PROMPT // 4)  # 4-byte characters, exactly MAX_PROMPT bytes
    assert (await api.query(ASK, m=world.public, p=at_limit, n=30))["ask"]["text"] == expected(world, at_limit, 30)
    code, error = code_of(api, ASK, m=world.public, p=at_limit + "😀")  # one character, four bytes, over
    assert code == "prompt_too_long" and f"{MAX_PROMPT + 4} bytes" in error["message"]


async def test_subnormal_temperatures_are_answered_greedily(world: World) -> None:
    api = world.api
    greedy = expected(world, PROMPT, 40)
    for tiny in (5e-324, 1e-320, 1e-46):  # 0 in float32, where 0/0 was NaN: "Unexpected error."
        answer = (await api.query(ASK, m=world.public, p=PROMPT, n=40, t=tiny, s="3"))["ask"]
        assert answer["text"] == greedy, tiny  # too cold to tell any two logits apart
    literal = api.post(f'{{ ask(mirror: "{world.public}", prompt: "{PROMPT}", maxTokens: 40, temperature: 5e-324) {{ text }} }}')
    assert literal.json() == {"data": {"ask": {"text": greedy}}}, literal.text


async def test_asks_are_rate_limited_per_wallet_with_a_retry_after(world: World) -> None:
    api, token = world.api, world.tokens["stranger"]
    for _ in range(ASK_RATE):
        assert (await api.query(ASK, token, m=world.public, p=PROMPT, n=0))["ask"]["modelVersion"] == 2
    code, error = code_of(api, ASK, token, m=world.public, p=PROMPT, n=0)
    assert code == "rate_limited" and 1 <= error["extensions"]["retryAfter"] <= 60
    assert (await api.query(ASK, m=world.public, p=PROMPT, n=0))["ask"]["modelVersion"] == 2  # another key: the anonymous address


def test_the_cli_answers_what_the_api_answers(world: World) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": world.database,
        "MIRROR_DATA_DIR": str(world.data_dir),
        "MIRROR_INFERENCE_KEYPAIR": str(INFERENCE_KEY),
    }
    args = [
        sys.executable,
        "-m",
        "trainer.ask",
        "--mirror",
        world.private,
        "--temperature",
        "0.9",
        "--seed",
        "5",
        "--max-tokens",
        "30",
        PROMPT,
    ]
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == expected(world, PROMPT, 30, 0.9, 5) + "\n"  # the sealed artifact, opened with the inference key
    wrong = [*args[:4], world.empty, *args[5:]]
    refused = subprocess.run(wrong, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    assert refused.returncode == 1 and b"error: no_model" in refused.stderr and refused.stdout == b""
    cid, sha = world.overflowing_ref
    overflowing = [sys.executable, "-m", "trainer.ask", "--cid", cid, "--sha256", sha, PROMPT]
    refused = subprocess.run(overflowing, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    assert refused.returncode == 1 and refused.stdout == b"", refused.stderr.decode()
    assert refused.stderr.decode().splitlines()[-1].startswith("error: model_corrupt: "), refused.stderr.decode()
    assert b"Traceback" not in refused.stderr


@pytest.mark.parametrize("content", [b"[1, 2", b"[" + b"300, " * 63 + b"300]", b"\xff\xfe", b"{}", b"[1, 2, 3]"])
def test_the_cli_refuses_a_key_file_that_is_not_a_keypair_in_one_line(tmp_path: Path, content: bytes) -> None:
    key = tmp_path / "key.json"
    key.write_bytes(content)
    args = [sys.executable, "-m", "trainer.ask", "--cid", "bafy", "--sha256", "a" * 64, "--key", str(key), PROMPT]
    env = {**os.environ, "MIRROR_DATA_DIR": str(tmp_path)}
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and done.stdout == b"", done.stderr.decode()  # argparse's code for bad arguments
    assert len(lines) == 1 and lines[0].startswith(f"error: {key} is not a Solana keypair file"), lines


@pytest.mark.parametrize("device", ["cuda:99", "tpu", "no such device"])
def test_an_inference_device_this_machine_lacks_stops_the_api_and_the_cli_at_start(world: World, tmp_path: Path, device: str) -> None:
    """INFERENCE_DEVICE names where asks generate; one this process cannot use is said at start, not by every ask."""
    api = ApiProcess(world.database, world.api.env["REDIS_URL"], tmp_path, INFERENCE_DEVICE=device)
    with pytest.raises(RuntimeError, match="API exited") as exited:
        api.start()
    assert f"INFERENCE_DEVICE {device!r}" in str(exited.value), str(exited.value)[-2000:]
    args = [sys.executable, "-m", "trainer.ask", "--cid", "bafy", "--sha256", "a" * 64, PROMPT]
    env = {**os.environ, "MIRROR_DATA_DIR": str(tmp_path), "INFERENCE_DEVICE": device}
    done = subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120)
    lines = done.stderr.decode().splitlines()
    assert done.returncode == 2 and done.stdout == b"", done.stderr.decode()
    assert lines[-1].startswith(f"error: INFERENCE_DEVICE {device!r}") and b"Traceback" not in done.stderr, lines  # (torch may warn first)
