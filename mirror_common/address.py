"""A Solana address from outside (a GraphQL argument, another process's JSON): base58 of 32 bytes,
returned in its canonical spelling, or ``ValueError``."""

from __future__ import annotations

from solders.pubkey import Pubkey


def parse_address(value: object) -> str:
    # 32..44 characters first: solders would otherwise decode any length it is given.
    if not isinstance(value, str) or not 32 <= len(value) <= 44:
        raise ValueError("not a base58 public key")
    try:
        return str(Pubkey.from_string(value))
    except ValueError:
        raise ValueError("not a base58 public key") from None
