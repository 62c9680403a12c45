"""Custom scalars that carry every value the chain can hold, losslessly.

- ``UnixTime``: an i64 of Unix seconds as the chain holds it (``<column>_unix`` in the read
  models), serialized as a decimal **string**. Never turned into a datetime: an expiry of
  i64::MAX or the year 10,000 is a valid chain value that Python's datetime cannot hold,
  and a JSON number past 2^53 loses precision in JavaScript.
- ``U64``: an unsigned 64-bit value (``numeric(20,0)`` columns), a decimal string.
- ``I64``: a signed 64-bit value (slots, event ids, u32 counters), a decimal string.

- ``Address``: a base58 public key (32 bytes); anything else is refused before SQL.

Inputs accept the decimal string or a JSON integer; anything outside the type's range,
fractional, or not a number is refused with a clear GraphQL error.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from graphql_api.errors import BadValue
from mirror_common import address

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
U64_MAX = 2**64 - 1


def _serialize(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise BadValue(f"not an integer: {value!r}")
    return str(int(value))


def _parser(name: str, lo: int, hi: int) -> Callable[[object], int]:
    def parse(value: object) -> int:
        if isinstance(value, bool):
            raise BadValue(f"{name} must be a decimal string or an integer")
        if isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 21:  # str.isdigit() also takes "²", which int() refuses
                raise BadValue(f"{name} must be a decimal integer, got {value[:40]!r}")
            number = int(text)
        elif isinstance(value, int):
            number = value
        else:
            raise BadValue(f"{name} must be a decimal string or an integer")
        if not lo <= number <= hi:
            raise BadValue(f"{name} out of range [{lo}, {hi}]")
        return number

    return parse


# Python types that Strawberry maps to the scalars below (``SCALARS``, given to the schema's
# config): to mypy they are plain ints and strs.
UnixTime = NewType("UnixTime", int)
U64 = NewType("U64", int)
I64 = NewType("I64", int)
Address = NewType("Address", str)


def parse_address(value: object) -> str:
    try:
        return address.parse_address(value)
    except ValueError as e:
        raise BadValue("Address must be a base58 public key") from e


SCALARS: dict[object, ScalarDefinition] = {
    UnixTime: strawberry.scalar(
        name="UnixTime",
        description="Unix seconds as the chain holds them (i64), as a decimal string: lossless beyond year 9999 and 2^53.",
        serialize=_serialize,
        parse_value=_parser("UnixTime", I64_MIN, I64_MAX),
    ),
    U64: strawberry.scalar(
        name="U64",
        description="An unsigned 64-bit integer, as a decimal string.",
        serialize=_serialize,
        parse_value=_parser("U64", 0, U64_MAX),
    ),
    I64: strawberry.scalar(
        name="I64",
        description="A signed 64-bit integer (slots, event ids), as a decimal string.",
        serialize=_serialize,
        parse_value=_parser("I64", I64_MIN, I64_MAX),
    ),
    Address: strawberry.scalar(
        name="Address",
        description="A Solana public key, base58.",
        serialize=str,
        parse_value=parse_address,
    ),
}
