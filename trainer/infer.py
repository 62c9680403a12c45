"""Inference: a model from a verified artifact, generation with a KV cache, streamed as text.

- **Verified before use.** Models are built only from ``load_artifact(blob, sha256)``, which
  checks the blob's SHA-256 first (``trainer/artifact.py``).
- **Bounded cache, keyed by CID and sha256.** ``ModelCache`` keeps the models used last within
  ``max_models`` and ``max_bytes`` of parameters; concurrent requests for one model load it once. A
  model is served for a ``(cid, sha256)`` only once that CID's bytes were checked against that
  sha256: a ref copying a loaded model's sha256 beside another CID gets nothing from the cache.
- **Valid UTF-8, whole characters.** Sampling is restricted to the bytes that keep the output
  well-formed UTF-8 (no stray continuation byte, overlong form, surrogate or code point past
  U+10FFFF), and the text stream yields only complete characters: a character cut by
  ``max_tokens`` (at most 3 bytes) is dropped. ``max_tokens`` counts bytes (the model's tokens).
- **KV cache.** Each step feeds only the new token; the window is ``block_size`` positions and,
  once full, restarts with its last ``block_size // 2`` tokens (the cache is refilled from them).
  ``use_cache=False`` runs the same windows without a cache and gives the same tokens at
  temperature 0 (tests/test_trainer_model.py).
- **Reproducible.** A ``seed`` gives the same text for the same model, prompt and settings:
  sampling draws from a private CPU generator, never the global one.
- **Any temperature in range, exactly.** Sampling runs in float64 on logits less their maximum, so
  the top logit is 0 / T = 0 for every T > 0 down to 5e-324 (float32 would round a subnormal T to 0
  and give 0/0); the rest go to -inf or a tiny probability. Temperature 0 (or ``top_k`` 1) is greedy.
- **Finite logits or nothing.** Finite weights can still overflow (``wte`` of 3e38): a step whose
  logits are not all finite raises ``NonFiniteLogits`` instead of sampling NaN or emitting NUL bytes.
- An empty prompt is conditioned on one newline, which is not part of the output.
"""

from __future__ import annotations

import asyncio
import codecs
import math
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from trainer.artifact import Artifact, load_artifact
from trainer.model import GPT, KVCache, autocast, build_model, parameter_bytes

MAX_TOKENS = 65_536  # a hard ceiling; the API sets its own, lower one
NEWLINE = 10

# UTF-8 (RFC 3629) as a state machine over bytes: (continuation bytes still due, which range the next byte must be in).
_START, _CONT, _E0, _ED, _F0, _F4 = range(6)
_RANGES = {_CONT: (0x80, 0xBF), _E0: (0xA0, 0xBF), _ED: (0x80, 0x9F), _F0: (0x90, 0xBF), _F4: (0x80, 0x8F)}


def _masks() -> torch.Tensor:
    masks = torch.zeros(6, 256, dtype=torch.bool)
    masks[_START, 0x00:0x80] = True
    masks[_START, 0xC2:0xF5] = True
    for state, (low, high) in _RANGES.items():
        masks[state, low : high + 1] = True
    return masks


_ALLOWED = _masks()


def _advance(state: tuple[int, int], byte: int) -> tuple[int, int]:
    due, _ = state
    if due:
        return (due - 1, _CONT) if due > 1 else (0, _START)
    if byte < 0x80:
        return (0, _START)
    if byte < 0xE0:
        return (1, _CONT)
    if byte < 0xF0:
        return (2, _E0 if byte == 0xE0 else _ED if byte == 0xED else _CONT)
    return (3, _F0 if byte == 0xF0 else _F4 if byte == 0xF4 else _CONT)


def load_model(artifact: Artifact, device: str | torch.device = "cpu") -> GPT:
    model = build_model(artifact.config, device=device, seed=None)
    model.load_state_dict(artifact.weights, strict=True)
    model.eval().requires_grad_(False)
    return model


class NonFiniteLogits(ArithmeticError):
    """The model computed an infinite or NaN logit: its weights are not what training produces."""


@dataclass(frozen=True)
class LoadedModel:
    cid: str  # where the artifact was fetched from: with sha256, the cache's key
    sha256: str
    model: GPT
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    nbytes: int  # parameter bytes, what the cache counts

    @property
    def key(self) -> tuple[str, str]:
        return (self.cid, self.sha256)


class ModelCache:
    """Loaded models by (CID, artifact sha256), least recently used evicted first. A model larger than
    ``max_bytes`` on its own is returned but not kept. The CID is the caller's word for where the
    blob came from (the content store checks it); the sha256 is checked here, before parsing."""

    def __init__(self, *, max_models: int = 4, max_bytes: int = 1 << 30, device: str | torch.device = "cpu") -> None:
        if max_models < 1 or max_bytes < 1:
            raise ValueError("the cache needs room for at least one model")
        self.max_models = max_models
        self.max_bytes = max_bytes
        self.device = torch.device(device)
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str], asyncio.Task[LoadedModel]] = {}

    def __len__(self) -> int:
        return len(self._models)

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(m.nbytes for m in self._models.values())

    def get(self, cid: str, sha256: str) -> LoadedModel | None:
        with self._lock:
            found = self._models.get((cid, sha256.lower()))
            if found is not None:
                self._models.move_to_end(found.key)
            return found

    def discard(self, cid: str, sha256: str) -> None:
        """Forget a model found unusable after it loaded (``NonFiniteLogits``)."""
        with self._lock:
            self._models.pop((cid, sha256.lower()), None)

    def load(self, cid: str, blob: bytes, sha256: str) -> LoadedModel:
        """The model of ``blob`` (fetched from ``cid``) once its sha256 is checked (``ArtifactError``
        otherwise), cached under both. Blocking."""
        cached = self.get(cid, sha256)
        if cached is not None:
            return cached
        artifact = load_artifact(blob, sha256)
        model = load_model(artifact, self.device)
        loaded = LoadedModel(cid, artifact.sha256, model, artifact.metrics, artifact.lineage, parameter_bytes(model))
        self._keep(loaded)
        return loaded

    async def aload(self, cid: str, sha256: str, fetch: Callable[[], Awaitable[bytes]]) -> LoadedModel:
        """The cached model, or ``fetch()``'s blob (the bytes of ``cid``) verified and loaded in a worker
        thread. Callers asking for one (cid, sha256) at once share one load; a cancelled caller does not
        cancel it."""
        key = (cid, sha256.lower())
        cached = self.get(*key)
        if cached is not None:
            return cached
        task = self._loading.get(key)
        if task is None:

            async def run() -> LoadedModel:
                try:
                    blob = await fetch()
                    return await asyncio.to_thread(self.load, cid, blob, key[1])
                finally:
                    self._loading.pop(key, None)

            task = self._loading[key] = asyncio.create_task(run(), name=f"load-model-{key[1][:12]}")
        return await asyncio.shield(task)

    def _keep(self, loaded: LoadedModel) -> None:
        if loaded.nbytes > self.max_bytes:
            return
        with self._lock:
            self._models[loaded.key] = loaded
            self._models.move_to_end(loaded.key)
            total = sum(m.nbytes for m in self._models.values())
            while len(self._models) > self.max_models or total > self.max_bytes:
                _, evicted = self._models.popitem(last=False)
                total -= evicted.nbytes


def generate_bytes(
    model: GPT,
    prompt: str,
    *,
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> Iterator[int]:
    """The generated bytes, one at a time; together they are UTF-8 except maybe a cut last character.
    ``temperature`` 0 (or ``top_k`` 1) is greedy. ``NonFiniteLogits`` when the model overflows."""
    _check(max_tokens, temperature, top_k)
    if max_tokens == 0:
        return
    block = model.config.block_size
    keep = max(1, block // 2)
    device = model.wte.weight.device
    context = list(prompt.encode()) or [NEWLINE]
    state = (0, _START)
    sampler = torch.Generator(device="cpu").manual_seed(seed if seed is not None else int.from_bytes(os.urandom(8), "little"))
    cache: KVCache | None = None
    if use_cache:
        cache = model.new_cache(1, torch.bfloat16 if device.type == "cuda" else None)
    start = 0  # first position of the window
    for _ in range(max_tokens):
        if len(context) - start >= block:
            start = len(context) - keep
            if cache is not None:
                cache.reset()
        with torch.inference_mode(), autocast(device):  # entered per step: the generator may resume in another thread
            if cache is not None:
                fed = start + cache.length
                idx = torch.tensor([context[fed:]], dtype=torch.long, device=device)
                logits, _ = model(idx, cache=cache)
            else:
                idx = torch.tensor([context[start:]], dtype=torch.long, device=device)
                logits, _ = model(idx)
            last = logits[0, -1].double().cpu()
            if not bool(torch.isfinite(last).all()):
                raise NonFiniteLogits(f"after {len(context)} bytes the model's logits include {_non_finite(last)}")
            token = _sample(last, _ALLOWED[state[1]], temperature, top_k, sampler)
        state = _advance(state, token)
        context.append(token)
        yield token


def generate_text(model: GPT, prompt: str, **options: Any) -> Generator[str, None, None]:
    """``generate_bytes`` as text pieces, each made of whole characters."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    for token in generate_bytes(model, prompt, **options):
        piece = decoder.decode(bytes((token,)))
        if piece:
            yield piece
    # a character cut by max_tokens stays in the decoder: dropped, not replaced


async def stream_text(model: GPT, prompt: str, **options: Any) -> AsyncIterator[str]:
    """``generate_text`` for an event loop: each step runs in a worker thread."""
    pieces = generate_text(model, prompt, **options)
    done = object()
    try:
        while (piece := await asyncio.to_thread(next, pieces, done)) is not done:
            assert isinstance(piece, str)
            yield piece
    finally:
        pieces.close()


def complete(model: GPT, prompt: str, **options: Any) -> str:
    return "".join(generate_text(model, prompt, **options))


def _check(max_tokens: int, temperature: float, top_k: int | None) -> None:
    if type(max_tokens) is not int or not 0 <= max_tokens <= MAX_TOKENS:
        raise ValueError(f"max_tokens must be an int in [0, {MAX_TOKENS}], not {max_tokens!r}")
    if not isinstance(temperature, int | float) or not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0, not {temperature!r}")
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise ValueError(f"top_k must be a positive int, not {top_k!r}")


def _non_finite(logits: torch.Tensor) -> str:
    kinds = {"NaN": bool(torch.isnan(logits).any()), "+inf": bool(torch.isposinf(logits).any()), "-inf": bool(torch.isneginf(logits).any())}
    return ", ".join(kind for kind, found in kinds.items() if found)


def _sample(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int | None, sampler: torch.Generator) -> int:
    """One token from finite float64 ``logits``, restricted to ``allowed``."""
    logits = logits.masked_fill(~allowed, -math.inf)
    if temperature == 0 or top_k == 1:
        return int(logits.argmax())
    # float64 and the max first: the top logit is 0 / T = 0 for any T > 0, subnormal included, and the rest
    # are negative or -inf, so the softmax has an exp(0) = 1 to divide by (float32 would round T = 1e-320
    # to 0, and 0/0 is NaN).
    logits = (logits - logits.max()) / temperature
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=sampler))
