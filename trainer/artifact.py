"""A model artifact: one safetensors file holding the weights, the config, the metrics and the lineage.

Layout (https://github.com/huggingface/safetensors, readable by any safetensors library): the
state dict of ``trainer.model.GPT`` as little-endian F32 tensors, and a header ``__metadata__``
with one key, ``mirror``, whose value is canonical JSON (sorted keys, no spaces)::

    {"config": {...ModelConfig...}, "format": "mirror-model/1", "lineage": {...}, "metrics": {...}}

One key because the safetensors writer orders ``__metadata__`` keys at random from process to
process; with one, the same weights and facts give the same bytes on every trainer.

**What the on-chain ``weights_sha256`` is:** the SHA-256 of this whole file (header, metadata and
tensor data, exactly the bytes ``build_artifact`` returns), before any envelope: for a private
mirror the CID names the sealed envelope, and the sha256 names what is inside it. Hashing the
whole file means the config and lineage are covered too; anyone can check it with ``sha256sum``.

``load_artifact(blob, expected_sha256)`` hashes first and parses only bytes whose hash matches,
then checks everything again (header bounds, offsets that tile the data exactly, the config,
that the tensors are exactly the config's, finite values). Anything wrong is an ``ArtifactError``
with a ``reason``; no other exception leaves it (tests/test_trainer_model.py fuzzes it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from safetensors import TensorSpec, serialize

from trainer.model import MAX_PARAMETERS, ModelConfig, expected_shapes
from trainer.train import TrainResult

FORMAT = "mirror-model/1"
METADATA_KEY = "mirror"
MAX_HEADER_BYTES = 1 << 20  # the header of the largest allowed config is ~25 kB
MAX_ARTIFACT_BYTES = 4 * MAX_PARAMETERS + MAX_HEADER_BYTES + 8

if sys.byteorder != "little":  # safetensors data is little-endian; tensors are read in place
    raise ImportError("trainer.artifact needs a little-endian machine")


class ArtifactError(ValueError):
    """A blob that is not a model artifact we can use. ``reason``: too_large, sha256_mismatch,
    bad_expected_sha256, malformed, bad_metadata, bad_config, weights_mismatch, non_finite."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Artifact:
    config: ModelConfig
    weights: dict[str, torch.Tensor]  # float32, CPU
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    sha256: str  # hex, of the whole blob

    @property
    def job(self) -> str | None:
        job = self.lineage.get("job")
        return job if isinstance(job, str) else None


def sha256_hex(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def encode_artifact(
    weights: Mapping[str, torch.Tensor], config: ModelConfig, metrics: Mapping[str, Any], lineage: Mapping[str, Any]
) -> bytes:
    """The artifact's bytes; ``ArtifactError`` if the weights are not the config's or not finite."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in weights.items()}
    _check_tensors(tensors, config)
    meta = {"format": FORMAT, "config": config.to_dict(), "metrics": dict(metrics), "lineage": dict(lineage)}
    try:
        text = _canonical_json(meta)
    except (TypeError, ValueError) as e:
        raise ArtifactError("bad_metadata", f"metrics and lineage must be finite JSON: {e}") from e
    specs = {
        name: TensorSpec(dtype="float32", shape=list(t.shape), data_ptr=t.data_ptr(), data_len=t.numel() * 4) for name, t in tensors.items()
    }
    return bytes(serialize(specs, metadata={METADATA_KEY: text}))  # ``tensors`` keeps the pointed-to data alive


def build_artifact(
    result: TrainResult, config: ModelConfig, *, job: str | None = None, lineage: Mapping[str, Any] | None = None
) -> tuple[bytes, str]:
    """The artifact of a training run and its sha256 (hex): the metrics of ``result``, and the
    lineage given (e.g. ``parent_sha256``) with ``job`` and ``fine_tuned`` added."""
    facts = dict(lineage or {})
    if job is not None:
        facts["job"] = job
    facts["fine_tuned"] = result.fine_tuned
    blob = encode_artifact(result.weights, config, result.metrics(), facts)
    return blob, sha256_hex(blob)


def load_artifact(blob: bytes, expected_sha256: str) -> Artifact:
    """The artifact in ``blob``, after checking that its SHA-256 is ``expected_sha256`` (hex)."""
    if not isinstance(expected_sha256, str) or len(expected_sha256) != 64 or not _is_hex(expected_sha256):
        raise ArtifactError("bad_expected_sha256", "64 hex digits expected")
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise ArtifactError("malformed", f"bytes expected, not {type(blob).__name__}")
    blob = bytes(blob)
    if len(blob) > MAX_ARTIFACT_BYTES:
        raise ArtifactError("too_large", f"{len(blob)} bytes exceed {MAX_ARTIFACT_BYTES}")
    actual = sha256_hex(blob)
    if not hmac.compare_digest(actual, expected_sha256.lower()):
        raise ArtifactError("sha256_mismatch", f"expected {expected_sha256.lower()}, got {actual}")
    return decode_artifact(blob)


def decode_artifact(blob: bytes) -> Artifact:
    """Parse and check an artifact whose hash the caller has already checked (or does not need)."""
    if len(blob) < 8:
        raise ArtifactError("malformed", "shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if header_len > MAX_HEADER_BYTES or 8 + header_len > len(blob):
        raise ArtifactError("malformed", f"header length {header_len} out of bounds")
    header = _json_object(blob[8 : 8 + header_len], "header")
    data = memoryview(blob)[8 + header_len :]

    metadata = header.pop("__metadata__", None)
    if not isinstance(metadata, dict) or set(metadata) != {METADATA_KEY} or not isinstance(metadata[METADATA_KEY], str):
        raise ArtifactError("bad_metadata", f"__metadata__ must hold exactly {METADATA_KEY!r}")
    meta = _json_object(metadata[METADATA_KEY].encode(), "metadata")
    if set(meta) != {"format", "config", "metrics", "lineage"} or meta["format"] != FORMAT:
        raise ArtifactError("bad_metadata", f"not a {FORMAT} artifact")
    if not isinstance(meta["metrics"], dict) or not isinstance(meta["lineage"], dict):
        raise ArtifactError("bad_metadata", "metrics and lineage must be objects")
    try:
        config = ModelConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as e:
        raise ArtifactError("bad_config", str(e)) from e

    expected = expected_shapes(config)
    if set(header) != set(expected):
        raise ArtifactError("weights_mismatch", f"tensors are not those of {config}")
    spans: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        shape = expected[name]
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ArtifactError("malformed", f"tensor {name!r}: bad entry")
        if entry["dtype"] != "F32" or entry["shape"] != list(shape):
            raise ArtifactError("weights_mismatch", f"tensor {name!r}: F32 {list(shape)} expected")
        offsets = entry["data_offsets"]
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise ArtifactError("malformed", f"tensor {name!r}: bad data_offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= len(data) or end - begin != math.prod(shape) * 4:
            raise ArtifactError("malformed", f"tensor {name!r}: data_offsets {offsets} out of bounds")
        spans.append((begin, end, name))
    spans.sort()
    position = 0
    for begin, end, name in spans:  # safetensors: the tensors tile the data, no gap, no overlap
        if begin != position:
            raise ArtifactError("malformed", f"tensor {name!r} starts at {begin}, not {position}")
        position = end
    if position != len(data):
        raise ArtifactError("malformed", f"{len(data) - position} bytes after the last tensor")

    # a copy per tensor: frombuffer needs a writable buffer, and the weights must not alias the blob
    weights = {
        name: torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(expected[name]) for begin, end, name in spans
    }
    _check_tensors(weights, config)
    return Artifact(config=config, weights=weights, metrics=meta["metrics"], lineage=meta["lineage"], sha256=sha256_hex(blob))


def _check_tensors(tensors: Mapping[str, torch.Tensor], config: ModelConfig) -> None:
    expected = expected_shapes(config)
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        raise ArtifactError("weights_mismatch", f"tensors are not those of {config}")
    for name, t in tensors.items():
        if not bool(torch.isfinite(t).all()):
            raise ArtifactError("non_finite", f"tensor {name!r} has NaN or infinite values")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object from untrusted bytes: strict UTF-8, no NaN/Infinity, no repeated key."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            raise ValueError("repeated key")
        return value

    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=no_constants, object_pairs_hook=unique)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ArtifactError("malformed", f"{what} is not JSON: {e}") from e
    if not isinstance(value, dict):
        raise ArtifactError("malformed", f"{what} is not a JSON object")
    return value


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)
