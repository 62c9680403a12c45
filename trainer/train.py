"""Training: a job's dataset and on-chain parameters in, weights out; deterministic and resumable.

What one job does, in tokens (a token is a byte):

- **window** ``T = min(seq_len, block_size, len(data) - 1)``: the chain accepts ``seq_len`` up to
  ``MAX_SEQ_LEN`` (8192) but a model sees at most ``block_size`` positions, and a window needs a
  next byte for each of its bytes.
- **batch** ``B = min(batch_size, max(1, limits.max_step_tokens // T))``: the chain accepts up to
  ``MAX_BATCH_SIZE`` (4096) windows a step; a step is capped at ``max_step_tokens`` and computed in
  micro-batches of at most ``micro_batch_tokens`` with the gradients summed, so memory does not
  grow with the batch.
- **epoch** = ``len(data) - 1`` tokens: every byte but the first is a target once, in expectation
  (windows start at offsets drawn uniformly, as in nanoGPT).
- **steps** ``= min(ceil(min(epochs·(len(data)-1), limits.max_tokens) / (B·T)), limits.max_steps)``,
  at least 1. So ``epochs = MAX_EPOCHS`` on a large dataset ends after ``max_tokens`` tokens: the
  work of a job is bounded whatever the chain accepted. The budget is in tokens and steps, never
  in seconds, so the result does not depend on the machine's speed.
- **final loss** (``final_loss_micros``, published on chain): the mean next-byte cross-entropy
  (nats, times 1e6) of the final weights over the evaluation windows: every window of the data
  (its ``len(data) - T`` starts) when it has at most ``limits.eval_tokens // T`` of them, else
  that many windows at starts drawn from a generator seeded by ``seed``. Evaluated ``eval_batch``
  windows at a time (``limits.micro_batch_tokens // T``, whatever the job's batch), so its cost
  and memory are bounded by the data and the limits, not by ``batch_size``.
- **learning rate** ``learning_rate_micros / 1e6``, linear warm-up over the first
  ``min(100, steps // 10)`` steps, then cosine decay to a tenth; AdamW (β 0.9/0.95, weight decay
  0.1 on matrices), gradients clipped at norm 1. A rate so high that the loss stops being finite
  raises ``TrainingDiverged`` (the chain accepts any positive rate).

Guarantees:
- **Deterministic.** The same data, params, config, seed, limits and ``init_weights`` give
  bit-identical weights on the same machine and PyTorch build: weights come from a generator
  seeded by ``seed``, windows from a second one, and on the CPU deterministic algorithms are on.
- **Resumable.** With ``checkpoint_dir``, a checkpoint (model, optimizer, generator states, step)
  is written atomically (temporary file, fsync, rename) every ``checkpoint_every_s`` seconds or
  ``checkpoint_every_steps`` steps and after the last step. A process killed at any point
  (SIGKILL included) that calls ``train`` again with the same arguments resumes from the last
  checkpoint and ends with the weights of an uninterrupted run. A checkpoint of other arguments
  (its fingerprint differs) or an unreadable one is ignored: the run starts over.
- **Cancellable.** ``should_stop`` is polled before every micro-batch (training and the final
  evaluation); when it says so ``Stopped`` is raised, within one micro-batch's time (about a
  second for "small" on two cores).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from trainer.dataset import MIN_DATASET_BYTES  # validation lives in trainer.dataset (no torch: the owner's client runs it too)
from trainer.model import GPT, ModelConfig, autocast, build_model, expected_shapes, tensor_bytes

# programs/mirror/src/constants.rs: the ranges request_training accepts.
MAX_EPOCHS = 1_000
MAX_SEQ_LEN = 8_192
MAX_BATCH_SIZE = 4_096
MAX_LEARNING_RATE_MICROS = 2**32 - 1  # u32 on chain; any positive value is accepted

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_VERSION = 1


class Stopped(Exception):
    """``should_stop`` asked training to end; nothing is returned."""


class TrainingDiverged(RuntimeError):
    """The loss stopped being finite (a learning rate far too high)."""


class ConfigMismatch(ValueError):
    """``init_weights`` are not weights of ``config``."""


@dataclass(frozen=True)
class TrainingParams:
    """The job's on-chain ``TrainingParams``, in the ranges the chain accepts."""

    epochs: int
    seq_len: int
    batch_size: int
    learning_rate_micros: int

    def __post_init__(self) -> None:
        bounds = {
            "epochs": MAX_EPOCHS,
            "seq_len": MAX_SEQ_LEN,
            "batch_size": MAX_BATCH_SIZE,
            "learning_rate_micros": MAX_LEARNING_RATE_MICROS,
        }
        for name, high in bounds.items():
            value = getattr(self, name)
            if type(value) is not int or not 1 <= value <= high:
                raise ValueError(f"{name} must be an int in [1, {high}], not {value!r}")

    @property
    def learning_rate(self) -> float:
        return self.learning_rate_micros / 1_000_000


@dataclass(frozen=True)
class TrainingLimits:
    """Caps on one job's work and memory (module docstring). Part of what determines the result."""

    max_tokens: int = 4_000_000  # tokens a job trains at most, whatever its epochs
    max_steps: int = 10_000
    max_step_tokens: int = 32_768  # B·T of one step
    micro_batch_tokens: int = 4_096  # tokens per forward/backward; ~300 MB of activations for "small"
    eval_tokens: int = 16_384  # tokens of the fixed sample the final loss is measured on

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")


DEFAULT_LIMITS = TrainingLimits()
# On a GPU, micro-batches of 4,096 tokens leave most of it idle (bench/trainer/README.md): the same budget
# in micro-batches of 16 windows of 1,024. Limits are part of a checkpoint's fingerprint, and the sums
# run in another order: a job moved between a CPU and a GPU trainer starts over.
CUDA_LIMITS = replace(DEFAULT_LIMITS, micro_batch_tokens=16_384)


def limits_for(device: torch.device) -> TrainingLimits:
    return CUDA_LIMITS if device.type == "cuda" else DEFAULT_LIMITS


def training_device(name: str, setting: str = "TRAINER_DEVICE") -> torch.device:
    """``TRAINER_DEVICE`` (or ``setting``) as a device this process can run the model on; ``ValueError`` saying why not."""
    try:
        device = torch.device(name.strip())
    except (RuntimeError, ValueError) as e:
        raise ValueError(f"{setting} {name!r} is not a device: {e}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ValueError(f"{setting} {name!r}: only cpu and cuda[:N] are supported")
    if not torch.cuda.is_available():
        raise ValueError(f"{setting} {name!r}: this PyTorch sees no CUDA device")
    if (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"{setting} {name!r}: there are {torch.cuda.device_count()} CUDA devices")
    return device


@dataclass(frozen=True)
class Plan:
    """The work ``train`` does for given arguments (module docstring)."""

    seq_len: int
    batch_size: int
    micro_batch: int  # windows per forward/backward
    steps: int
    warmup_steps: int
    eval_windows: int  # windows the final loss is the mean over
    eval_batch: int  # windows per forward while evaluating

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.seq_len


def plan(data_len: int, params: TrainingParams, config: ModelConfig, limits: TrainingLimits = DEFAULT_LIMITS) -> Plan:
    if data_len < MIN_DATASET_BYTES:
        raise ValueError(f"a dataset of {data_len} bytes has nothing to train on")
    t = min(params.seq_len, config.block_size, data_len - 1)
    b = min(params.batch_size, max(1, limits.max_step_tokens // t))
    tokens = min(params.epochs * (data_len - 1), limits.max_tokens)
    steps = min(max(1, math.ceil(tokens / (b * t))), limits.max_steps)
    micro = max(1, min(b, limits.micro_batch_tokens // t))
    evaluated = min(max(1, limits.eval_tokens // t), data_len - t)
    eval_batch = min(evaluated, max(1, limits.micro_batch_tokens // t))  # no gradients: the training budget of tokens is ample
    return Plan(
        seq_len=t,
        batch_size=b,
        micro_batch=micro,
        steps=steps,
        warmup_steps=min(100, steps // 10),
        eval_windows=evaluated,
        eval_batch=eval_batch,
    )


def learning_rate(step: int, p: Plan, peak: float) -> float:
    """Warm-up then cosine decay to peak/10, for the step about to run (0-based)."""
    if step < p.warmup_steps:
        return peak * (step + 1) / p.warmup_steps
    span = max(1, p.steps - p.warmup_steps)
    progress = (step - p.warmup_steps) / span
    return peak * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * progress)))


@dataclass(frozen=True)
class TrainResult:
    weights: dict[str, torch.Tensor]  # CPU float32 state dict of the model
    final_loss_micros: int  # mean next-byte cross-entropy (nats) times 1e6 of the final weights over the evaluation windows
    tokens_trained: int  # targets the optimiser learned from: steps * batch * window
    steps: int
    seq_len: int  # the window used (after the caps)
    batch_size: int  # the batch used (after the caps)
    fine_tuned: bool  # started from ``init_weights``
    resumed_from_step: int | None  # the checkpoint this run continued from; not part of the result's identity

    def metrics(self) -> dict[str, int]:
        """What the artifact records about the run (all of it deterministic)."""
        return {
            "final_loss_micros": self.final_loss_micros,
            "tokens_trained": self.tokens_trained,
            "steps": self.steps,
            "seq_len": self.seq_len,
            "batch_size": self.batch_size,
        }


Progress = Callable[[int, int, float, int], None]  # (step done, steps, loss of that step, tokens so far)


def train(
    data: bytes,
    params: TrainingParams,
    config: ModelConfig,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    checkpoint_every_s: float | None = None,
    checkpoint_every_steps: int | None = None,
    init_weights: Mapping[str, torch.Tensor] | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    limits: TrainingLimits = DEFAULT_LIMITS,
    device: str | torch.device = "cpu",
    compile: bool = False,
) -> TrainResult:
    """Train ``config`` on ``data`` (module docstring). ``init_weights`` continues a previous model
    of the same config (``ConfigMismatch`` otherwise). Blocking: run it in a worker thread."""
    dev = torch.device(device)
    p = plan(len(data), params, config, limits)
    seed &= 2**63 - 1  # Generator.manual_seed takes a 64-bit value; a job seed may be any int
    if init_weights is not None:
        _check_weights(init_weights, config)
    fingerprint = _fingerprint(data, params, config, seed, limits, init_weights)

    model = build_model(config, device=dev, seed=None if init_weights is not None else seed)
    if init_weights is not None:
        model.load_state_dict({k: v.to(torch.float32) for k, v in init_weights.items()}, strict=True)
    optimizer = _optimizer(model, params.learning_rate, weight_decay=0.1, fused=dev.type == "cuda")
    batches = torch.Generator(device="cpu").manual_seed(seed ^ 0x5EED_BA7C)
    torch.manual_seed(seed)  # dropout draws from the global generator; off (0.0) in the named sizes
    step = 0
    resumed: int | None = None
    saved = _read_checkpoint(checkpoint_dir, fingerprint, dev) if checkpoint_dir is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        batches.set_state(saved["batches"])
        torch.set_rng_state(saved["global_rng"])
        step = resumed = int(saved["step"])

    corpus = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    forward = torch.compile(model) if compile else model
    stop = should_stop or (lambda: False)
    last_save = time.monotonic()
    with _deterministic(dev):
        model.train()
        while step < p.steps:
            lr = learning_rate(step, p, params.learning_rate)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss = _step(forward, optimizer, corpus, p, batches, dev, stop)
            if not math.isfinite(loss):
                raise TrainingDiverged(f"loss {loss} at step {step + 1} (learning rate {lr:g})")
            step += 1
            if progress is not None:
                progress(step, p.steps, loss, step * p.tokens_per_step)
            due_steps = checkpoint_every_steps is not None and step % checkpoint_every_steps == 0
            due_time = checkpoint_every_s is not None and time.monotonic() - last_save >= checkpoint_every_s
            if checkpoint_dir is not None and (due_steps or due_time or step == p.steps):
                _write_checkpoint(checkpoint_dir, fingerprint, step, model, optimizer, batches)
                last_save = time.monotonic()
        final_loss = _evaluate(model, corpus, p, seed, limits, dev, stop)
    if not math.isfinite(final_loss):
        raise TrainingDiverged(f"final loss {final_loss}")
    weights = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    return TrainResult(
        weights=weights,
        final_loss_micros=round(final_loss * 1_000_000),
        tokens_trained=p.steps * p.tokens_per_step,
        steps=p.steps,
        seq_len=p.seq_len,
        batch_size=p.batch_size,
        fine_tuned=init_weights is not None,
        resumed_from_step=resumed,
    )


def _step(
    model: Callable[..., tuple[torch.Tensor, torch.Tensor | None]],
    optimizer: torch.optim.Optimizer,
    corpus: torch.Tensor,
    p: Plan,
    batches: torch.Generator,
    dev: torch.device,
    stop: Callable[[], bool],
) -> float:
    """One optimiser step over ``p.batch_size`` windows, in micro-batches; the step's mean loss."""
    starts = torch.randint(0, len(corpus) - p.seq_len, (p.batch_size,), generator=batches)
    offsets = torch.arange(p.seq_len + 1)
    optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=dev)
    for first in range(0, p.batch_size, p.micro_batch):
        if stop():
            raise Stopped("should_stop")
        windows = corpus[starts[first : first + p.micro_batch, None] + offsets].to(dev, torch.long, non_blocking=True)
        with autocast(dev):
            _, loss = model(windows[:, :-1], windows[:, 1:])
        assert loss is not None
        share = loss * (len(windows) / p.batch_size)  # micro-batches may differ in size: weight by windows
        torch.autograd.backward(share)
        total += share.detach()
    torch.nn.utils.clip_grad_norm_([q for g in optimizer.param_groups for q in g["params"]], 1.0)
    optimizer.step()
    return float(total.item())


@torch.no_grad()
def _evaluate(
    model: GPT, corpus: torch.Tensor, p: Plan, seed: int, limits: TrainingLimits, dev: torch.device, stop: Callable[[], bool]
) -> float:
    """The final loss (module docstring): the mean next-byte loss of the weights over the evaluation
    windows, in batches of ``p.eval_batch`` (the same for a run and its resumption)."""
    model.eval()
    positions = len(corpus) - p.seq_len  # the windows the data has: each start with a target for every byte
    if p.eval_windows == positions:
        starts = torch.arange(positions)  # every window once: no more work than the data has, and the exact mean
    else:
        sample = torch.Generator(device="cpu").manual_seed(seed ^ 0xE7A1)
        starts = torch.randint(0, positions, (p.eval_windows,), generator=sample)
    offsets = torch.arange(p.seq_len + 1)
    total = 0.0
    for first in range(0, p.eval_windows, p.eval_batch):
        if stop():
            raise Stopped("should_stop")
        windows = corpus[starts[first : first + p.eval_batch, None] + offsets].to(dev, torch.long)
        with autocast(dev):
            _, loss = model(windows[:, :-1], windows[:, 1:])
        assert loss is not None
        total += float(loss.item()) * len(windows)
    model.train()
    return total / p.eval_windows


def _optimizer(model: GPT, lr: float, *, weight_decay: float, fused: bool) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (embeddings included), nanoGPT's split."""
    decay = [q for q in model.parameters() if q.dim() >= 2]
    plain = [q for q in model.parameters() if q.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)


@contextlib.contextmanager
def _deterministic(dev: torch.device) -> Iterator[None]:
    """Deterministic algorithms on the CPU for the run, the process's setting restored after."""
    if dev.type != "cpu":
        yield
        return
    before, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)


def _check_weights(weights: Mapping[str, torch.Tensor], config: ModelConfig) -> None:
    expected = expected_shapes(config)
    got = {k: tuple(v.shape) for k, v in weights.items()}
    if got != expected:
        missing = sorted(expected.keys() - got.keys())[:3]
        unexpected = sorted(got.keys() - expected.keys())[:3]
        reshaped = sorted(k for k in expected.keys() & got.keys() if expected[k] != got[k])[:3]
        raise ConfigMismatch(
            f"init_weights are not weights of {config}: missing {missing}, unexpected {unexpected}, other shapes {reshaped}"
        )


def _fingerprint(
    data: bytes,
    params: TrainingParams,
    config: ModelConfig,
    seed: int,
    limits: TrainingLimits,
    init_weights: Mapping[str, torch.Tensor] | None,
) -> str:
    """What a checkpoint must have been made with to be resumed."""
    digest = hashlib.sha256()
    digest.update(json.dumps([asdict(params), config.to_dict(), seed, asdict(limits), CHECKPOINT_VERSION]).encode())
    digest.update(hashlib.sha256(data).digest())
    for name, tensor in sorted((init_weights or {}).items()):
        t = tensor.detach().to("cpu", torch.float32).contiguous()
        digest.update(name.encode() + b"\0")
        digest.update(tensor_bytes(t))
    return digest.hexdigest()


def _write_checkpoint(
    directory: Path, fingerprint: str, step: int, model: GPT, optimizer: torch.optim.Optimizer, batches: torch.Generator
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        "version": CHECKPOINT_VERSION,
        "fingerprint": fingerprint,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "batches": batches.get_state(),
        "global_rng": torch.get_rng_state(),
    }
    target = directory / CHECKPOINT_FILE
    temporary = directory / f".{CHECKPOINT_FILE}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, target)  # a reader sees the old checkpoint or the new one, never half of one
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power loss
    finally:
        os.close(fd)


def _read_checkpoint(directory: Path, fingerprint: str, dev: torch.device) -> dict[str, Any] | None:
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location=dev, weights_only=True)
    except Exception:  # noqa: BLE001 - unreadable for any reason (disk damage): start over, the result is the same
        return None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION or state.get("fingerprint") != fingerprint:
        return None
    state["batches"] = state["batches"].to("cpu")
    state["global_rng"] = state["global_rng"].to("cpu")
    return state
