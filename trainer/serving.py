"""Serving a published model: a ModelVersion's CID and sha256 in, generated text out. One copy of
this path, shared by the API's ``ask`` (graphql_api/inference.py) and ``python -m trainer.ask``.

- **Verified before use.** The content store checks the bytes against the CID; a sealed artifact
  (a private mirror's) is opened with the inference key, whose envelope MAC covers every byte;
  ``load_artifact`` then checks the on-chain sha256, which names the plaintext artifact, before
  anything is parsed (``ModelCache.load``). Models are cached by (CID, sha256), never by sha256
  alone: a ModelVersion that copies a private model's public sha256 beside another CID gets its own
  CID fetched and checked, not the private model.
- **Finite output.** A model whose weights are finite but whose logits are not (they overflow) is
  refused as ``model_corrupt`` at its first such step, never sampled into NaN or NUL bytes.
- **Bounded.** ``ModelCache`` keeps ``max_models`` models and shares one load between concurrent
  askers. A model that fails for good (``model_corrupt``, ``model_sealed``) is remembered for
  ``FAILURE_TTL_S`` (and one with non-finite logits dropped from the cache), so repeated asks do not
  make the server fetch, hash or run it again and again.
- **One torch thread.** Every step of every generation runs on one dedicated worker thread, with
  ``torch.set_num_threads(1)``: concurrent streams interleave step by step (the worker's queue is
  FIFO), the event loop never runs torch, and the box's other cores stay with the rest of the server.
- **Lazy.** torch and the content store are imported on first use (in the worker), so a server that
  never answers an ask never pays for them: importing torch takes seconds.
- **CPU or GPU.** ``INFERENCE_DEVICE`` (``cpu``, the default, or ``cuda[:N]``) is where models load and
  generate: on CUDA under bf16 autocast with a bf16 KV cache (``infer.generate_bytes``), still one worker
  thread driving it. A device this process cannot use stops the server (and ``trainer.ask``) at start,
  rather than failing every ask (``inference_device``).
- **Checked input.** ``check_request`` refuses what the model must not see (a prompt that is not
  UTF-8 or too long, a token count, temperature, top-k or seed out of range) before any work.

Every refusal is a ``ServeError`` whose ``code`` is one of ``CODES``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from solders.keypair import Keypair

from mirror_common.config import Settings
from mirror_common.pg import Connection
from trainer.envelope import MAX_OVERHEAD, EnvelopeError, is_envelope, open_sealed, x25519_keypair_from_solana

if TYPE_CHECKING:
    from mirror_common.ipfs import ContentStore
    from trainer.infer import LoadedModel, ModelCache

log = structlog.get_logger("trainer.serving")

CODES = {
    "bad_max_tokens": "maxTokens out of range",
    "prompt_too_long": "the prompt has more bytes than allowed",
    "bad_prompt": "the prompt is not valid UTF-8 text",
    "bad_temperature": "temperature must be a finite number in range",
    "bad_top_k": "topK must be null or in range",
    "bad_seed": "the seed is out of range",
    "no_model": "the mirror has no model version yet",
    "model_corrupt": "the model's artifact does not verify (CID, envelope or sha256), does not parse, or computes non-finite logits",
    "model_sealed": "the model is sealed, and not to this server's inference key",
    "store_unavailable": "the content store did not deliver the model; try again later",
}
PERMANENT = ("model_corrupt", "model_sealed")  # the same content fails the same way: remembered
MAX_TEMPERATURE = 10.0  # past a few, sampling is uniform noise over the allowed bytes
TOP_K_MAX = 256  # the vocabulary: one token per byte value
FAILURE_TTL_S = 60.0
FAILURES_KEPT = 256


class ServeError(Exception):
    """A request that cannot be served; ``code`` (one of ``CODES``) is for clients and logs."""

    def __init__(self, code: str, detail: str = "") -> None:
        assert code in CODES, code
        super().__init__(f"{CODES[code]}: {detail}" if detail else CODES[code])
        self.code = code
        self.detail = detail

    @property
    def public(self) -> str:
        """What a remote client may read: the model and store failures without their detail (the store's
        address, a node's error text), which is logged instead."""
        return CODES[self.code] if self.code in (*PERMANENT, "store_unavailable") else str(self)


@dataclass(frozen=True)
class ModelRef:
    """A model version as the chain records it: where its artifact is and what it hashes to."""

    cid: str
    sha256: str  # hex, of the plaintext artifact
    version: int = 0
    address: str = ""  # the ModelVersion account, when known


@dataclass(frozen=True)
class Sampling:
    max_tokens: int
    temperature: float = 0.8
    top_k: int | None = 40
    seed: int | None = None


def check_request(prompt: str, sampling: Sampling, *, max_tokens: int, max_prompt_bytes: int) -> None:
    """``ServeError`` for anything out of the limits given (the API's are its settings)."""
    if type(sampling.max_tokens) is not int or not 0 <= sampling.max_tokens <= max_tokens:
        raise ServeError("bad_max_tokens", f"{sampling.max_tokens!r} is not in [0, {max_tokens}]")
    try:
        size = len(prompt.encode("utf-8"))
    except UnicodeEncodeError as e:  # a lone surrogate: JSON's "\ud800" decodes to one
        raise ServeError("bad_prompt", f"character {e.start} is a lone surrogate") from None
    if size > max_prompt_bytes:
        raise ServeError("prompt_too_long", f"{size} bytes, at most {max_prompt_bytes}")
    t = sampling.temperature
    if not isinstance(t, int | float) or not math.isfinite(t) or not 0 <= t <= MAX_TEMPERATURE:
        raise ServeError("bad_temperature", f"{t!r} is not in [0, {MAX_TEMPERATURE}]")
    k = sampling.top_k
    if k is not None and (type(k) is not int or not 1 <= k <= TOP_K_MAX):
        raise ServeError("bad_top_k", f"{k!r} is not null or in [1, {TOP_K_MAX}]")
    s = sampling.seed
    if s is not None and (type(s) is not int or not -(2**63) <= s < 2**64):  # what torch.Generator.manual_seed takes
        raise ServeError("bad_seed", f"{s!r}")


async def latest_model(conn: Connection, mirror: str) -> ModelRef:
    """The mirror's newest model version in the read models, or ``ServeError('no_model')``."""
    row = await conn.fetchrow(
        "SELECT address, version, model_cid, weights_sha256 FROM model_versions WHERE mirror = $1 ORDER BY version DESC LIMIT 1", mirror
    )
    if row is None:
        raise ServeError("no_model", mirror)
    return ModelRef(cid=row["model_cid"], sha256=row["weights_sha256"], version=int(row["version"]), address=row["address"])


def inference_key(path: Path) -> bytes | None:
    """The X25519 private key of the Solana keypair file at ``path`` (the inference service's, or an
    owner's), or None when there is no such file: sealed models are then refused as ``model_sealed``."""
    try:
        raw = Path(path).read_bytes()  # not read_text: bytes that are not UTF-8 fail below, naming the file
    except FileNotFoundError:
        log.warning("inference_key_missing", path=str(path), effect="sealed (private) models cannot be served")
        return None
    try:
        keypair = Keypair.from_bytes(bytes(json.loads(raw)))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path} is not a Solana keypair file (a JSON array of 64 bytes): {e}") from None
    return x25519_keypair_from_solana(keypair)[1]


def inference_device(name: str) -> str:
    """``INFERENCE_DEVICE`` as a device this process can generate on, or ``ValueError`` saying why not (a
    server should refuse to start, not fail every ask). ``cpu`` is checked without importing torch."""
    if name.strip() == "cpu":
        return "cpu"
    from trainer.train import training_device

    return str(training_device(name, setting="INFERENCE_DEVICE"))


def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


class ModelServer:
    """Loads models by ``ModelRef`` (fetched, opened, verified, cached) and streams their text."""

    def __init__(
        self, settings: Settings, *, key: bytes | None, max_models: int = 4, store: ContentStore | None = None, device: str = "cpu"
    ) -> None:
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self.settings = settings
        self.key = key
        self.max_models = max_models
        self.device = device  # checked by inference_device
        self._store = store
        self._cache: ModelCache | None = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="inference", initializer=_one_torch_thread)
        self._boot = asyncio.Lock()
        self._failed: OrderedDict[tuple[str, str], tuple[float, ServeError]] = OrderedDict()

    @property
    def loaded(self) -> int:
        return len(self._cache) if self._cache is not None else 0

    async def load(self, ref: ModelRef) -> LoadedModel:
        if len(ref.sha256) != 64 or not all(c in "0123456789abcdefABCDEF" for c in ref.sha256):
            raise ServeError("model_corrupt", f"{ref.sha256[:80]!r} is not a sha256")  # before paying for torch
        cache, store = await self._ready()
        key = (ref.cid, ref.sha256.lower())
        failed = self._failed.get(key)
        if failed is not None:
            if failed[0] > time.monotonic():
                raise failed[1]
            del self._failed[key]
        from trainer.artifact import ArtifactError

        try:
            return await cache.aload(ref.cid, ref.sha256, lambda: self._fetch(store, ref))
        except ArtifactError as e:
            error = ServeError("model_corrupt", f"{ref.cid}: {e}")
        except ServeError as e:
            error = e
        raise self._refused(key, error, version=ref.version)

    def _refused(self, key: tuple[str, str], error: ServeError, **context: object) -> ServeError:
        """``error``, logged, and remembered for ``key`` (cid, sha256) when it is permanent."""
        if error.code in PERMANENT:
            self._failed[key] = (time.monotonic() + FAILURE_TTL_S, error)
            self._failed.move_to_end(key)
            while len(self._failed) > FAILURES_KEPT:
                self._failed.popitem(last=False)
        log.warning("model_refused", cid=key[0], sha256=key[1], code=error.code, error=str(error), **context)
        return error

    async def stream(self, model: LoadedModel, prompt: str, sampling: Sampling) -> AsyncIterator[str]:
        """The text pieces (whole characters) as the worker generates them; ``ServeError('model_corrupt')``
        when the model's logits are not finite (then remembered, and the model dropped from the cache)."""
        from trainer.infer import NonFiniteLogits, generate_text

        pieces = generate_text(
            model.model,
            prompt,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_k=sampling.top_k,
            seed=sampling.seed,
        )
        loop = asyncio.get_running_loop()
        try:
            while (piece := await loop.run_in_executor(self._worker, next, pieces, None)) is not None:
                yield piece
        except NonFiniteLogits as e:
            if self._cache is not None:
                self._cache.discard(*model.key)
            raise self._refused(model.key, ServeError("model_corrupt", f"{model.cid}: {e}")) from None
        finally:
            # Closed on the worker, after any step still running there: a generator cannot be closed mid-step.
            try:
                self._worker.submit(pieces.close)
            except RuntimeError:  # the worker is shut down (server closing)
                pass

    async def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
        if self._store is not None:
            await self._store.close()

    async def _ready(self) -> tuple[ModelCache, ContentStore]:
        async with self._boot:
            if self._cache is None:
                # torch (seconds to import) and the store's client, off the event loop; the worker keeps torch at one thread.
                self._cache = await asyncio.get_running_loop().run_in_executor(self._worker, self._new_cache)
            if self._store is None:
                from mirror_common.ipfs import open_store

                self._store = open_store(self.settings)
            return self._cache, self._store

    def _new_cache(self) -> ModelCache:
        import mirror_common.ipfs  # noqa: F401 - imported here, off the event loop (aiohttp takes a second)
        from trainer.infer import ModelCache

        return ModelCache(max_models=self.max_models, device=self.device)

    async def _fetch(self, store: ContentStore, ref: ModelRef) -> bytes:
        """The plaintext artifact: fetched (verified against the CID), opened when sealed. The sha256 is ModelCache's to check."""
        from mirror_common.ipfs import BadCid, ContentError, Corrupt, NotFound, TooLarge
        from trainer.artifact import MAX_ARTIFACT_BYTES

        try:
            blob = await store.get(ref.cid, MAX_ARTIFACT_BYTES + MAX_OVERHEAD)
        except (BadCid, Corrupt, TooLarge) as e:
            raise ServeError("model_corrupt", f"{ref.cid}: {type(e).__name__}: {e}") from e
        except (NotFound, ContentError, OSError) as e:
            raise ServeError("store_unavailable", f"{ref.cid}: {type(e).__name__}: {e}") from e
        if not is_envelope(blob):
            return blob
        if self.key is None:
            raise ServeError("model_sealed", "this server has no inference key")
        try:
            return await asyncio.to_thread(open_sealed, blob, self.key, max_plaintext=MAX_ARTIFACT_BYTES)
        except EnvelopeError as e:
            raise ServeError("model_sealed" if e.reason in ("not_a_recipient", "bad_key") else "model_corrupt", str(e)) from e
