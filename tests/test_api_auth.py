"""Sign-In With Solana against the API process: every refusal is a 401 with its code,
written to api_audit; tokens are revoked by logout; TOTP, once enrolled, is required."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import jwt
import pyotp
import pytest
from solders.keypair import Keypair

from mirror_common.services import Postgres, Redis
from tests.api_support import URI, ApiProcess, create_database, sign, sign_in, sign_in_message

SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="module")
async def database(postgres: Postgres) -> str:
    return await create_database(postgres.url)


@pytest.fixture(scope="module")
async def api(database: str, redis_server: Redis, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiProcess]:
    proc = ApiProcess(database, redis_server.url, tmp_path_factory.mktemp("api"), API_NONCE_TTL="3").start()
    yield proc
    proc.stop()


def nonce(api: ApiProcess, kp: Keypair) -> str:
    r = httpx.post(f"{api.url}/auth/nonce", json={"address": str(kp.pubkey())})
    assert r.status_code == 200, r.text
    value: str = r.json()["nonce"]
    return value


def verify(api: ApiProcess, message: str, signature: str, totp: str | None = None) -> httpx.Response:
    return httpx.post(f"{api.url}/auth/verify", json={"message": message, "signature": signature, "totp": totp})


def refused(r: httpx.Response, code: str) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json()["error"] == code, r.text


def me(api: ApiProcess, token: str) -> httpx.Response:
    return httpx.post(f"{api.url}/graphql", json={"query": "{ me { wallet } }"}, headers={"Authorization": f"Bearer {token}"})


async def test_a_signed_message_gives_a_token_that_names_the_wallet(api: ApiProcess) -> None:
    kp = Keypair()
    token = sign_in(api, kp)
    assert me(api, token).json()["data"]["me"]["wallet"] == str(kp.pubkey())
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="localhost:59102")
    assert claims["iss"] == URI and claims["sub"] == str(kp.pubkey()) and claims["jti"] and claims["exp"] > time.time()
    anonymous = httpx.post(f"{api.url}/graphql", json={"query": "{ me { wallet } }"}).json()
    assert "sign in first" in anonymous["errors"][0]["message"]


async def test_each_forgery_is_refused_with_its_code(api: ApiProcess, database: str) -> None:
    kp, other = Keypair(), Keypair()
    n = nonce(api, kp)
    good = sign_in_message(kp, n)
    refused(verify(api, good, sign(other, good)), "bad_signature")
    refused(verify(api, good, "3" * 88), "bad_signature")
    evil = sign_in_message(kp, n, domain="evil.example")
    refused(verify(api, evil, sign(kp, evil)), "wrong_domain")
    wrong_uri = sign_in_message(kp, n, uri="http://evil.example")
    refused(verify(api, wrong_uri, sign(kp, wrong_uri)), "wrong_uri")
    chain = sign_in_message(kp, n, chain="solana:mainnet")
    refused(verify(api, chain, sign(kp, chain)), "wrong_chain")
    past = datetime.now(UTC) - timedelta(hours=1)
    stale = sign_in_message(kp, n, issued=past, expires=past + timedelta(minutes=5))
    refused(verify(api, stale, sign(kp, stale)), "message_expired")
    refused(verify(api, "hello", sign(kp, "hello")), "bad_request")
    # None of the refusals above used the nonce up: the genuine message still signs in, once.
    assert verify(api, good, sign(kp, good)).status_code == 200
    refused(verify(api, good, sign(kp, good)), "nonce_invalid")
    # Another wallet's nonce is not this wallet's.
    stolen = sign_in_message(other, nonce(api, kp))
    refused(verify(api, stolen, sign(other, stolen)), "nonce_invalid")
    conn = await asyncpg.connect(database)
    try:
        codes = {
            r["code"] for r in await conn.fetch("SELECT code FROM api_audit WHERE action = 'refused' AND wallet = $1", str(kp.pubkey()))
        }
        assert {"bad_signature", "wrong_domain", "wrong_uri", "wrong_chain", "message_expired", "nonce_invalid"} <= codes
        assert await conn.fetchval("SELECT count(*) FROM api_audit WHERE action = 'sign_in' AND wallet = $1", str(kp.pubkey())) == 1
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("DELETE FROM api_audit")
    finally:
        await conn.close()


async def test_an_expired_nonce_is_refused(api: ApiProcess) -> None:
    kp = Keypair()
    n = nonce(api, kp)  # API_NONCE_TTL=3 in this module
    message = sign_in_message(kp, n)
    await asyncio.sleep(3.5)
    refused(verify(api, message, sign(kp, message)), "nonce_invalid")


async def test_bad_tokens_are_refused_with_their_code(api: ApiProcess) -> None:
    kp = Keypair()
    refused(me(api, "not.a.token"), "token_invalid")
    now = int(time.time())
    base = {"iss": URI, "aud": "localhost:59102", "sub": str(kp.pubkey()), "iat": now, "exp": now + 60, "jti": "j1"}
    refused(me(api, jwt.encode({**base, "exp": now - 10}, SECRET, algorithm="HS256")), "token_expired")
    refused(me(api, jwt.encode({**base, "aud": "other"}, SECRET, algorithm="HS256")), "token_wrong_audience")
    refused(me(api, jwt.encode(base, "another-secret-" + "y" * 40, algorithm="HS256")), "token_invalid")
    refused(me(api, jwt.encode({k: v for k, v in base.items() if k != "jti"}, SECRET, algorithm="HS256")), "token_invalid")
    token = sign_in(api, kp)
    assert me(api, token).status_code == 200
    assert httpx.post(f"{api.url}/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    refused(me(api, token), "token_revoked")
    refused(httpx.post(f"{api.url}/auth/logout"), "token_missing")


async def test_totp_once_enrolled_is_required_and_single_use(api: ApiProcess) -> None:
    kp = Keypair()
    token = sign_in(api, kp)
    auth = {"Authorization": f"Bearer {token}"}
    secret = httpx.post(f"{api.url}/auth/totp/enroll", headers=auth).json()["secret"]
    refused(httpx.post(f"{api.url}/auth/totp/confirm", json={"code": "000000"}, headers=auth), "totp_invalid")
    code = pyotp.TOTP(secret).now()
    assert httpx.post(f"{api.url}/auth/totp/confirm", json={"code": code}, headers=auth).status_code == 200
    m = sign_in_message(kp, nonce(api, kp))
    refused(verify(api, m, sign(kp, m)), "totp_required")
    m = sign_in_message(kp, nonce(api, kp))
    refused(verify(api, m, sign(kp, m), totp="123456" if code != "123456" else "654321"), "totp_invalid")
    m = sign_in_message(kp, nonce(api, kp))
    refused(verify(api, m, sign(kp, m), totp=code), "totp_invalid")  # the code that confirmed the enrolment is spent
    # The next step's code (accepted: ±1 step of clock drift) is a fresh one.
    m = sign_in_message(kp, nonce(api, kp))
    assert verify(api, m, sign(kp, m), totp=pyotp.TOTP(secret).at(time.time() + 30)).status_code == 200
