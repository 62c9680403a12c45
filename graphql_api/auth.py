"""Sign-In With Solana, tokens and the TOTP second factor (REST, under /auth).

- ``POST /auth/nonce {address}``: a random nonce, kept in Redis for ``API_NONCE_TTL``
  seconds, and the message fields (and text) to sign.
- ``POST /auth/verify {message, signature, totp?}``: the message is parsed strictly
  (``siws.py``); its domain, URI and chain must be this server's, Issued At not in the
  future nor older than the nonce's life, Expiration Time not passed; the ed25519
  signature (base58) is verified with PyNaCl against the address in the message; then
  the nonce is consumed with one atomic ``GETDEL`` (a replay, a second concurrent use or
  an expired nonce finds nothing); then TOTP, when the wallet enrolled. The answer is a
  JWT (HS256, PyJWT) with ``iss`` (API_URI), ``aud`` (API_DOMAIN), ``sub`` (the wallet),
  ``exp`` and a random ``jti``.
- ``POST /auth/logout``: the token's ``jti`` goes to Redis until the token would expire;
  every request checks it.
- ``POST /auth/totp/enroll`` then ``/auth/totp/confirm {code}`` (signed in): from then on
  sign-in needs a current code, each code usable once.

Every refusal is a 401 with a machine-readable ``error`` code (``CODES``), counted, and
written to ``api_audit``.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import base58
import jwt
import pyotp
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.secret import SecretBox
from nacl.signing import VerifyKey
from pydantic import BaseModel, Field

from graphql_api import siws
from graphql_api.errors import BadValue
from graphql_api.scalars import parse_address
from graphql_api.state import ApiState
from graphql_api.store import api as api_store

CODES = {
    "bad_request": "the request or the message is malformed",
    "bad_signature": "the signature does not verify for the message's address",
    "wrong_domain": "the message names another domain",
    "wrong_uri": "the message names another URI",
    "wrong_chain": "the message names another chain or version",
    "message_expired": "the message's times are not valid now",
    "nonce_invalid": "the nonce is unknown, expired or already used",
    "totp_required": "this wallet enrolled a second factor: send its code",
    "totp_invalid": "the TOTP code is wrong or already used",
    "token_missing": "sign in first",
    "token_invalid": "the token is malformed or its signature is wrong",
    "token_expired": "the token has expired",
    "token_wrong_audience": "the token was issued for another audience",
    "token_revoked": "the token was revoked (logged out)",
    "rate_limited": "too many requests: wait the Retry-After seconds",
}
log = structlog.get_logger("graphql_api.auth")
CLOCK_SKEW = 60  # seconds of disagreement tolerated between the wallet's clock and ours
ALGORITHM = "HS256"


class AuthError(Exception):
    def __init__(self, code: str, status: int = 401, headers: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.code, "message": CODES.get(self.code, self.code)}, self.status, headers=self.headers)


@dataclass(frozen=True, slots=True)
class Viewer:
    wallet: str
    jti: str
    exp: int


class NonceRequest(BaseModel):
    address: str = Field(max_length=64)


class VerifyRequest(BaseModel):
    message: str = Field(max_length=4096)
    signature: str = Field(max_length=200)
    totp: str | None = Field(default=None, max_length=12)


class CodeRequest(BaseModel):
    code: str = Field(max_length=12)


def _totp_box(state: ApiState) -> SecretBox:
    return SecretBox(hashlib.blake2b(state.jwt_secret.encode(), digest_size=32, person=b"mirror-totp").digest())


def issue_token(state: ApiState, wallet: str) -> tuple[str, int]:
    now = int(time.time())
    exp = now + state.settings.api_jwt_ttl
    claims = {
        "iss": state.settings.api_uri,
        "aud": state.settings.api_domain,
        "sub": wallet,
        "iat": now,
        "exp": exp,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, state.jwt_secret, algorithm=ALGORITHM), exp


async def viewer_from_token(state: ApiState, token: str) -> Viewer:
    """The signed-in wallet of a bearer token, or AuthError with the reason."""
    try:
        claims = jwt.decode(
            token,
            state.jwt_secret,
            algorithms=[ALGORITHM],
            audience=state.settings.api_domain,
            issuer=state.settings.api_uri,
            options={"require": ["exp", "iss", "aud", "sub", "jti"]},
        )
    except jwt.ExpiredSignatureError as e:
        raise AuthError("token_expired") from e
    except jwt.InvalidAudienceError as e:
        raise AuthError("token_wrong_audience") from e
    except jwt.PyJWTError as e:
        raise AuthError("token_invalid") from e
    try:
        wallet = parse_address(claims["sub"])
    except BadValue as e:
        raise AuthError("token_invalid") from e
    if await state.redis.exists(f"api:revoked:{claims['jti']}"):
        raise AuthError("token_revoked")
    return Viewer(wallet, str(claims["jti"]), int(claims["exp"]))


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("token_invalid")
    return token.strip()


async def refuse(state: ApiState, request: Request, code: str, wallet: str | None = None, status: int = 401) -> AuthError:
    """Counts, logs, audits and returns the refusal to raise."""
    state.metrics.refusals.labels(code).inc()
    log.info("refused", code=code, wallet=wallet, path=request.url.path)
    async with state.pool.acquire() as conn:
        await api_store.audit(
            conn,
            "refused",
            code=code,
            wallet=wallet,
            ip=client_ip(request),
            request_id=request_id(request),
            detail={"path": request.url.path},
        )
    return AuthError(code, status)


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_id(request: Request) -> str | None:
    """The id app.Guard checked (or generated) for this request, never the raw header."""
    rid = request.scope.get("state", {}).get("request_id")
    return str(rid) if rid else None


def router() -> APIRouter:
    r = APIRouter(prefix="/auth")

    def st(request: Request) -> ApiState:
        state: ApiState = request.app.state.api
        return state

    @r.post("/nonce")
    async def nonce(body: NonceRequest, request: Request) -> dict[str, Any]:
        state = st(request)
        try:
            address = parse_address(body.address)
        except BadValue as e:
            raise await refuse(state, request, "bad_request") from e
        value = secrets.token_urlsafe(18)
        s = state.settings
        await state.redis.set(f"api:nonce:{value}", address, ex=s.api_nonce_ttl)
        now = datetime.now(UTC)
        msg = siws.SignInMessage(
            domain=s.api_domain,
            address=address,
            statement="Sign in to Mirror Reality.",
            uri=s.api_uri,
            version="1",
            chain_id=s.api_chain_id,
            nonce=value,
            issued_at=now,
            expiration_time=now + timedelta(seconds=s.api_nonce_ttl),
        )
        return {
            "nonce": value,
            "domain": msg.domain,
            "address": address,
            "statement": msg.statement,
            "uri": msg.uri,
            "version": msg.version,
            "chainId": msg.chain_id,
            "issuedAt": siws.iso(msg.issued_at),
            "expirationTime": siws.iso(msg.expiration_time),
            "message": msg.text(),
        }

    @r.post("/verify")
    async def verify(body: VerifyRequest, request: Request) -> dict[str, Any]:
        state = st(request)
        s = state.settings
        try:
            msg = siws.parse(body.message)
            signature = base58.b58decode(body.signature)
        except (BadValue, ValueError) as e:
            raise await refuse(state, request, "bad_request") from e
        if msg.domain != s.api_domain:
            raise await refuse(state, request, "wrong_domain", msg.address)
        if msg.uri != s.api_uri:
            raise await refuse(state, request, "wrong_uri", msg.address)
        if msg.chain_id != s.api_chain_id or msg.version != "1":
            raise await refuse(state, request, "wrong_chain", msg.address)
        now = datetime.now(UTC)
        skew = timedelta(seconds=CLOCK_SKEW)
        if (
            msg.issued_at > now + skew
            or msg.issued_at < now - timedelta(seconds=s.api_nonce_ttl) - skew
            or msg.expiration_time <= now
            or (msg.not_before is not None and msg.not_before > now + skew)
        ):
            raise await refuse(state, request, "message_expired", msg.address)
        try:
            VerifyKey(base58.b58decode(msg.address)).verify(body.message.encode(), signature)
        except (BadSignatureError, CryptoError, ValueError, TypeError) as e:
            raise await refuse(state, request, "bad_signature", msg.address) from e
        owner = await state.redis.getdel(f"api:nonce:{msg.nonce}")
        if owner is None or (owner.decode() if isinstance(owner, bytes) else owner) != msg.address:
            raise await refuse(state, request, "nonce_invalid", msg.address)
        async with state.pool.acquire() as conn:
            enrolled = await api_store.totp(conn, msg.address)
        if enrolled is not None and enrolled["confirmed_at"] is not None:
            if not body.totp:
                raise await refuse(state, request, "totp_required", msg.address)
            secret = _totp_box(state).decrypt(enrolled["sealed_secret"]).decode()
            if not await _use_totp(state, msg.address, secret, body.totp):
                raise await refuse(state, request, "totp_invalid", msg.address)
        token, exp = issue_token(state, msg.address)
        async with state.pool.acquire() as conn:
            await api_store.audit(conn, "sign_in", wallet=msg.address, ip=client_ip(request), request_id=request_id(request))
        return {"token": token, "wallet": msg.address, "expiresAt": str(exp)}

    async def signed_in(request: Request) -> Viewer:
        state = st(request)
        try:
            token = bearer(request.headers.get("authorization"))
            if token is None:
                raise AuthError("token_missing")
            return await viewer_from_token(state, token)
        except AuthError as e:
            raise await refuse(state, request, e.code) from e

    @r.post("/logout")
    async def logout(request: Request) -> dict[str, Any]:
        state = st(request)
        viewer = await signed_in(request)
        await state.redis.set(f"api:revoked:{viewer.jti}", "1", exat=max(viewer.exp, int(time.time()) + 1))
        async with state.pool.acquire() as conn:
            await api_store.audit(conn, "logout", wallet=viewer.wallet, ip=client_ip(request), request_id=request_id(request))
        return {"ok": True}

    @r.post("/totp/enroll")
    async def totp_enroll(request: Request) -> dict[str, Any]:
        state = st(request)
        viewer = await signed_in(request)
        secret = pyotp.random_base32()
        async with state.pool.acquire() as conn:
            if not await api_store.totp_start(conn, viewer.wallet, bytes(_totp_box(state).encrypt(secret.encode()))):
                raise AuthError("bad_request", 409)
        uri = pyotp.TOTP(secret).provisioning_uri(name=viewer.wallet, issuer_name="Mirror Reality")
        return {"secret": secret, "uri": uri}

    @r.post("/totp/confirm")
    async def totp_confirm(body: CodeRequest, request: Request) -> dict[str, Any]:
        state = st(request)
        viewer = await signed_in(request)
        async with state.pool.acquire() as conn:
            row = await api_store.totp(conn, viewer.wallet)
        if row is None:
            raise await refuse(state, request, "bad_request", viewer.wallet)
        secret = _totp_box(state).decrypt(row["sealed_secret"]).decode()
        if not await _use_totp(state, viewer.wallet, secret, body.code):
            raise await refuse(state, request, "totp_invalid", viewer.wallet)
        async with state.pool.acquire() as conn:
            await api_store.totp_confirm(conn, viewer.wallet)
            await api_store.audit(conn, "totp_enrolled", wallet=viewer.wallet, ip=client_ip(request), request_id=request_id(request))
        return {"ok": True}

    return r


async def _use_totp(state: ApiState, wallet: str, secret: str, code: str) -> bool:
    """A current code (±30 s), accepted once: the first use claims it in Redis."""
    if not pyotp.TOTP(secret).verify(code, valid_window=1):
        return False
    claimed = await state.redis.set(f"api:totp-used:{wallet}:{code}", "1", nx=True, ex=120)
    return bool(claimed)
