"""The Sign-In With Solana message (``solana:signIn``): its text, built and parsed.

The text is the one wallets produce from a SolanaSignInInput (the EIP-4361 layout):

    <domain> wants you to sign in with your Solana account:
    <address>

    <statement>

    URI: <uri>
    Version: 1
    Chain ID: <chain id>
    Nonce: <nonce>
    Issued At: <ISO 8601>
    Expiration Time: <ISO 8601>

Parsing is strict: unknown or repeated fields, a missing required one, a bad time or a
bad address make the whole message invalid. The checks of its values (domain, URI,
times, nonce, signature) are the verifier's (``auth.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from graphql_api.errors import BadValue
from graphql_api.scalars import parse_address

HEADER = " wants you to sign in with your Solana account:"
FIELDS = {
    "URI": "uri",
    "Version": "version",
    "Chain ID": "chain_id",
    "Nonce": "nonce",
    "Issued At": "issued_at",
    "Expiration Time": "expiration_time",
    "Not Before": "not_before",
    "Request ID": "request_id",
}
REQUIRED = ("uri", "version", "chain_id", "nonce", "issued_at", "expiration_time")
_FIELD = re.compile(r"^([A-Za-z ]+): (.+)$")


@dataclass(frozen=True, slots=True)
class SignInMessage:
    domain: str
    address: str
    statement: str | None
    uri: str
    version: str
    chain_id: str
    nonce: str
    issued_at: datetime
    expiration_time: datetime
    not_before: datetime | None = None
    request_id: str | None = None

    def text(self) -> str:
        lines = [f"{self.domain}{HEADER}", self.address]
        if self.statement:
            lines += ["", self.statement]
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {iso(self.issued_at)}",
            f"Expiration Time: {iso(self.expiration_time)}",
        ]
        if self.not_before:
            lines.append(f"Not Before: {iso(self.not_before)}")
        if self.request_id:
            lines.append(f"Request ID: {self.request_id}")
        return "\n".join(lines)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(value: str) -> datetime:
    try:
        t = datetime.fromisoformat(value)
    except ValueError as e:
        raise BadValue(f"bad time {value[:40]!r}") from e
    if t.tzinfo is None:
        raise BadValue("times must carry a time zone")
    return t


def parse(text: str) -> SignInMessage:
    if len(text) > 4096:
        raise BadValue("message too long")
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0].endswith(HEADER):
        raise BadValue("not a Sign-In With Solana message")
    domain = lines[0][: -len(HEADER)]
    address = parse_address(lines[1])
    rest = lines[2:]
    statement: str | None = None
    if rest and rest[0] == "" and len(rest) > 2 and rest[2] == "" and not _FIELD.match(rest[1]):
        statement, rest = rest[1], rest[2:]
    if not rest or rest[0] != "":
        raise BadValue("malformed message")
    values: dict[str, str] = {}
    for line in rest[1:]:
        m = _FIELD.match(line)
        if not m or m.group(1) not in FIELDS or FIELDS[m.group(1)] in values:
            raise BadValue(f"unexpected line {line[:60]!r}")
        values[FIELDS[m.group(1)]] = m.group(2)
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise BadValue(f"missing {', '.join(missing)}")
    return SignInMessage(
        domain=domain,
        address=address,
        statement=statement,
        uri=values["uri"],
        version=values["version"],
        chain_id=values["chain_id"],
        nonce=values["nonce"],
        issued_at=_time(values["issued_at"]),
        expiration_time=_time(values["expiration_time"]),
        not_before=_time(values["not_before"]) if "not_before" in values else None,
        request_id=values.get("request_id"),
    )
