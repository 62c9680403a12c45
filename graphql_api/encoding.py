"""JSON out: orjson, and the standard library where orjson refuses (an integer past 64 bits in an
event's data, which the chain allows and the API must still deliver)."""

from __future__ import annotations

import json

import orjson


def encode_json(data: object) -> bytes:
    try:
        return orjson.dumps(data)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()
