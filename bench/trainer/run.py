"""Trainer benchmark: training tokens/s and MFU beside a plain eager baseline, inference with and without the KV cache.

    python -m bench.trainer                          # CPU: "tiny" and "small", ~1.5 minutes on 2 cores
    python -m bench.trainer --quick                  # the same sizes, a few small steps (the smoke test)
    python -m bench.trainer --sizes base --rounds 1  # "base" (86M) on the CPU with a 256 window, ~3 minutes
    python -m bench.trainer --compile                # also the trainer under torch.compile (CPU: ~70 s per size the first time)
    python -m bench.trainer --device cuda --compile  # "small" and "base", bf16 autocast, MFU against the GPU's bf16 dense peak

Prints figures; asserts nothing about time. See bench/trainer/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/trainer/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch

from bench.common import say
from bench.trainer.baseline import PlainGPT, plain_optimizer, plain_step
from trainer import train as training
from trainer.infer import generate_bytes
from trainer.model import GPT, ModelConfig, build_model, estimate_flops_per_token, estimate_mfu

SEED = 1234
LEARNING_RATE_MICROS = 300  # 3e-4: a normal rate, so the loss moves but never diverges in a few steps

# Dense bf16 tensor-core peaks from NVIDIA's data sheets (no sparsity), FLOP/s; the first name found
# in torch.cuda.get_device_name() wins, so the specific variants come first.
GPU_PEAK_BF16 = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989.4e12),  # SXM5
    ("H200", 989.4e12),
    ("A100", 312e12),
)


@dataclass(frozen=True)
class Geometry:
    """What one size is trained with, the same for every path."""

    seq_len: int  # T
    batch: int  # B: windows per optimiser step
    steps: int  # measured steps
    warmup: int  # steps run first and not timed (allocation; compilation under --compile)
    prompt_bytes: int  # inference: the prompt's length
    gen_tokens: int  # inference: bytes generated


# Chosen so that a full CPU run stays under ~5 minutes on 2 cores. "base" (a GPU size: ~30 tokens/s
# here) gets a 256 window and 512-token steps.
CPU_GEOMETRY = {
    "tiny": Geometry(seq_len=64, batch=64, steps=12, warmup=1, prompt_bytes=16, gen_tokens=40),
    "small": Geometry(seq_len=256, batch=32, steps=5, warmup=1, prompt_bytes=32, gen_tokens=192),
    "base": Geometry(seq_len=256, batch=2, steps=4, warmup=1, prompt_bytes=32, gen_tokens=32),
}
QUICK_GEOMETRY = {
    "tiny": Geometry(seq_len=64, batch=16, steps=2, warmup=1, prompt_bytes=16, gen_tokens=24),
    "small": Geometry(seq_len=256, batch=4, steps=1, warmup=1, prompt_bytes=32, gen_tokens=16),
    "base": Geometry(seq_len=128, batch=2, steps=1, warmup=1, prompt_bytes=16, gen_tokens=8),
}
GPU_GEOMETRY = {
    "tiny": Geometry(seq_len=64, batch=512, steps=20, warmup=3, prompt_bytes=16, gen_tokens=40),
    "small": Geometry(seq_len=256, batch=128, steps=20, warmup=3, prompt_bytes=64, gen_tokens=180),
    "base": Geometry(seq_len=1024, batch=32, steps=10, warmup=3, prompt_bytes=256, gen_tokens=512),
}


def conditions() -> dict[str, Any]:
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "time": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the peak -----------------------------------------------------------------------


def measure_matmul_peak(device: torch.device, quick: bool) -> dict[str, Any]:
    """The best FLOP/s of a large square matmul loop: fp32 on the CPU, bf16 on CUDA (what autocast runs)."""
    sizes: tuple[int, ...]
    if device.type == "cuda":
        dtype, sizes, repeats, seconds = torch.bfloat16, (4096, 8192), 5, 0.3
    else:
        dtype, sizes, repeats, seconds = torch.float32, ((1024, 2048) if quick else (1024, 2048, 4096)), (3 if quick else 5), 0.3
    best, best_n = 0.0, 0
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        c = torch.empty(n, n, device=device, dtype=dtype)
        torch.mm(a, b, out=c)  # first call: allocation, kernel choice
        synchronize(device)
        t = time.perf_counter()
        torch.mm(a, b, out=c)
        synchronize(device)
        loops = max(1, round(seconds / max(time.perf_counter() - t, 1e-6)))  # ~0.3 s per timing
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(loops):
                torch.mm(a, b, out=c)
            synchronize(device)
            flops = 2 * n**3 * loops / (time.perf_counter() - t)
            if flops > best:
                best, best_n = flops, n
        del a, b, c
    return {"flops": best, "dtype": str(dtype).removeprefix("torch."), "n": best_n, "sizes": list(sizes), "repeats": repeats}


def peak(device: torch.device, choice: str, measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """The MFU denominator: the best measurement, or NVIDIA's table for a known GPU (``choice`` auto prefers
    the table there). The peak is the hardware's: on shared cores the best of several timings is nearest it."""
    measured = max(measurements, key=lambda m: float(m["flops"]))
    table = None
    name = cpu_name() if device.type == "cpu" else torch.cuda.get_device_name(device)
    if device.type == "cuda":
        table = next((flops for key, flops in GPU_PEAK_BF16 if key in name), None)
    use_table = table is not None and choice in ("auto", "table")
    if choice == "table" and table is None:
        say(f"no table peak for {name!r}: using the measured one")
    return {
        "device_name": name,
        "measured": measured,
        "measurements_flops": [round(m["flops"]) for m in measurements],
        "table_flops": table,
        "flops": table if use_table and table is not None else measured["flops"],
        "source": "table (bf16 dense, data sheet)" if use_table else f"measured ({measured['dtype']} matmul, n={measured['n']})",
    }


def add_mfu(size: dict[str, Any], peaks: dict[str, Any]) -> None:
    config = ModelConfig.from_dict(size["config"])
    seq_len = size["geometry"]["seq_len"]
    for path in ("baseline", "trainer", "trainer_compiled", "baseline_beside_compiled"):
        if path in size:
            f = size[path]
            f["mfu"] = estimate_mfu(config, f["tokens_per_s"], peaks["flops"], seq_len)
            f["mfu_vs_measured_peak"] = estimate_mfu(config, f["tokens_per_s"], peaks["measured"]["flops"], seq_len)


# --- data -----------------------------------------------------------------------------


def corpus(size: int) -> bytes:
    """Deterministic text (words, punctuation, some multi-byte characters) of ``size`` bytes or a little less."""
    words = "the of a mirror model byte train window token reality café naïve 日本語 weights loss step sample".split()
    rng = random.Random(SEED)
    out, n = [], 0
    while n < size:
        w = rng.choice(words) + rng.choice((" ", " ", " ", ", ", ".\n"))
        out.append(w)
        n += len(w.encode())
    return "".join(out).encode()[:size].decode(errors="ignore").encode()


# --- training -------------------------------------------------------------------------


def rate(tokens: int, seconds: float) -> float:
    return tokens / seconds if seconds > 0 else 0.0


def step_figures(seconds: list[float], losses: list[float], warmup: int, tokens_per_step: int, micro_batch: int) -> dict[str, Any]:
    """Tokens/s at the median step after ``warmup``: a burst of other work on shared cores slows a few
    steps, not the median. The mean over the same steps is kept beside it."""
    timed = sorted(seconds[warmup:])
    middle = len(timed) // 2
    median = timed[middle] if len(timed) % 2 else (timed[middle - 1] + timed[middle]) / 2
    return {
        "tokens_per_s": rate(tokens_per_step, median),
        "tokens_per_s_mean": rate(tokens_per_step * len(timed), sum(timed)),
        "median_step_s": round(median, 4),
        "step_s": [round(x, 4) for x in seconds],
        "warmup_steps": warmup,
        "timed_steps": len(timed),
        "losses": [round(x, 4) for x in losses],
        "micro_batch": micro_batch,
    }


class PlainRunner:
    """The plain model and loop, one step at a time, over the windows the trainer draws (same generator and seed)."""

    def __init__(
        self, config: ModelConfig, g: Geometry, data: bytes, device: torch.device, micro: int | None, init: dict[str, Any]
    ) -> None:
        self.model = PlainGPT(config).to(device)
        self.model.load_state_dict(init, strict=True)
        self.model.train()
        self.optimizer = plain_optimizer(self.model, LEARNING_RATE_MICROS / 1e6)
        self.windows = torch.Generator(device="cpu").manual_seed(SEED ^ 0x5EED_BA7C)  # train.py's window generator
        self.data = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        self.g, self.device, self.micro = g, device, micro
        self.seconds: list[float] = []
        self.losses: list[float] = []

    def step(self) -> None:
        started = time.perf_counter()
        starts = torch.randint(0, len(self.data) - self.g.seq_len, (self.g.batch,), generator=self.windows)
        self.losses.append(plain_step(self.model, self.optimizer, self.data, starts, self.g.seq_len, self.device, self.micro))
        self.seconds.append(time.perf_counter() - started)

    def figures(self) -> dict[str, Any]:
        return step_figures(self.seconds, self.losses, self.g.warmup, self.g.batch * self.g.seq_len, self.micro or self.g.batch)


def run_paired(
    config: ModelConfig, g: Geometry, data: bytes, device: torch.device, micro_batch_tokens: int, compile: bool, plain: PlainRunner
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``trainer.train.train`` itself, timed step by step through its progress callback, with one step of
    ``plain`` run inside each callback (outside the trainer's timing): the two paths alternate step by
    step, so other work on shared cores slows both alike."""
    total = g.warmup + g.steps
    params = training.TrainingParams(
        epochs=training.MAX_EPOCHS, seq_len=g.seq_len, batch_size=g.batch, learning_rate_micros=LEARNING_RATE_MICROS
    )
    limits = training.TrainingLimits(
        max_tokens=total * g.batch * g.seq_len,
        max_steps=total,
        max_step_tokens=g.batch * g.seq_len,
        micro_batch_tokens=micro_batch_tokens,
        eval_tokens=g.seq_len,  # the final evaluation is not timed; keep it short
    )
    plan = training.plan(len(data), params, config, limits)
    assert (plan.seq_len, plan.batch_size, plan.steps) == (g.seq_len, g.batch, total), plan  # the bench's own arithmetic
    seconds: list[float] = []
    losses: list[float] = []
    resumed = time.perf_counter()  # when train() got control back

    def progress(step: int, steps: int, loss: float, tokens: int) -> None:
        nonlocal resumed
        seconds.append(time.perf_counter() - resumed)
        losses.append(loss)
        plain.step()
        times = f"trainer {seconds[-1]:.3g}s, plain {plain.seconds[-1]:.3g}s"
        say(f"    step {step}/{steps}: {times}; losses {loss:.4f}, {plain.losses[-1]:.4f}")
        resumed = time.perf_counter()

    result = training.train(data, params, config, seed=SEED, limits=limits, device=device, compile=compile, progress=progress)
    return step_figures(seconds, losses, g.warmup, g.batch * g.seq_len, plan.micro_batch), result.weights


# --- inference ------------------------------------------------------------------------


def run_inference(
    config: ModelConfig, weights: dict[str, torch.Tensor], g: Geometry, data: bytes, device: torch.device, rounds: int
) -> dict[str, Any]:
    """Greedy generation of ``gen_tokens`` after a ``prompt_bytes`` prompt, with and without the KV cache,
    alternating for ``rounds`` rounds; the median round of each."""
    model: GPT = build_model(config, device=device, seed=None)
    model.load_state_dict(weights, strict=True)
    model.eval().requires_grad_(False)
    prompt = data[: g.prompt_bytes].decode(errors="ignore")
    out: dict[str, Any] = {"prompt_bytes": len(prompt.encode()), "gen_tokens": g.gen_tokens}
    tokens: dict[bool, list[int]] = {}
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for use_cache in (True, False):
        list(generate_bytes(model, prompt, max_tokens=4, temperature=0.0, use_cache=use_cache))  # warm-up
    for _ in range(rounds):
        for use_cache in (True, False):
            synchronize(device)
            t = time.perf_counter()
            tokens[use_cache] = list(generate_bytes(model, prompt, max_tokens=g.gen_tokens, temperature=0.0, use_cache=use_cache))
            synchronize(device)
            seconds[use_cache].append(time.perf_counter() - t)
    for use_cache, key in ((True, "kv_cache"), (False, "no_cache")):
        median = sorted(seconds[use_cache])[(rounds - 1) // 2]  # the lower median: an even count takes the faster
        out[key] = {
            "seconds": round(median, 4),
            "tokens_per_s": rate(g.gen_tokens, median),
            "rounds_tokens_per_s": [round(rate(g.gen_tokens, x), 2) for x in seconds[use_cache]],
        }
    out["ratio"] = out["kv_cache"]["tokens_per_s"] / max(out["no_cache"]["tokens_per_s"], 1e-12)
    out["same_tokens"] = tokens[True] == tokens[False]
    return out


# --- one size -------------------------------------------------------------------------


def bench_size(name: str, g: Geometry, args: argparse.Namespace, device: torch.device, data: bytes) -> dict[str, Any]:
    config = ModelConfig.named(name)
    if g.seq_len > config.block_size:
        g = Geometry(**(asdict(g) | {"seq_len": config.block_size}))
    flops_per_token = estimate_flops_per_token(config, g.seq_len)
    out: dict[str, Any] = {
        "size": name,
        "config": config.to_dict(),
        "parameters": config.num_parameters(),
        "parameters_non_embedding": config.num_parameters(non_embedding=True),
        "geometry": asdict(g),
        "tokens_per_step": g.batch * g.seq_len,
        "flops_per_token": flops_per_token,
    }

    micro_tokens = args.micro_batch_tokens or training.limits_for(device).micro_batch_tokens
    # The baseline runs the whole batch at once (on CUDA in the trainer's micro-batches, for memory).
    baseline_micro = None if device.type == "cpu" else max(1, min(g.batch, micro_tokens // g.seq_len))
    init = {k: v.to(device) for k, v in build_model(config, seed=SEED).state_dict().items()}  # train.py's initial weights

    say(f"{name}: trainer.train (SDPA, micro-batches of {micro_tokens} tokens) and the plain eager baseline, step by step")
    plain = PlainRunner(config, g, data, device, baseline_micro, init)
    out["trainer"], weights = run_paired(config, g, data, device, micro_tokens, False, plain)
    out["baseline"] = plain.figures()
    out["ratio"] = out["trainer"]["tokens_per_s"] / max(out["baseline"]["tokens_per_s"], 1e-12)
    if args.compile:
        say(f"{name}: trainer.train under torch.compile (the first step compiles) and the baseline again, step by step")
        compiled = Geometry(**(asdict(g) | {"warmup": max(g.warmup, 2)}))  # backward graphs may compile on the second step
        plain = PlainRunner(config, compiled, data, device, baseline_micro, init)
        out["trainer_compiled"], _ = run_paired(config, compiled, data, device, micro_tokens, True, plain)
        out["baseline_beside_compiled"] = plain.figures()
        out["ratio_compiled"] = out["trainer_compiled"]["tokens_per_s"] / max(out["baseline_beside_compiled"]["tokens_per_s"], 1e-12)
    say(f"{name}: inference, greedy, {g.gen_tokens} tokens after a {g.prompt_bytes}-byte prompt, KV cache and none, {args.rounds} rounds")
    out["inference"] = run_inference(config, weights, g, data, device, args.rounds)
    return out


# --- report ---------------------------------------------------------------------------


def human(n: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def report(result: dict[str, Any]) -> str:
    p = result["peak"]
    m = p["measured"]
    lines = [
        "== trainer benchmark ==",
        f"device {result['device']} ({p['device_name']}), torch {result['torch']}, {result['threads']} threads, "
        f"{result['cpus']} CPUs, load average {result['conditions_start']['loadavg'][0]} at start, "
        f"{result['conditions_end']['loadavg'][0]} at end",
        f"peak matmul, measured: {human(m['flops'])}FLOP/s {m['dtype']} (best of {m['repeats']} timings each of n = "
        f"{', '.join(map(str, m['sizes']))}, at the start"
        + (" and the end" if len(p["measurements_flops"]) > 1 else "")
        + f"; best at n={m['n']}; each time: {', '.join(human(x) for x in p['measurements_flops'])})",
    ]
    if p["table_flops"] is not None:
        lines.append(f"peak from the data sheet (bf16 dense): {human(p['table_flops'])}FLOP/s")
    lines.append(f"MFU denominator: {human(p['flops'])}FLOP/s, {p['source']}")
    lines.append("")
    lines.append(
        "training: tokens/s and MFU (nanoGPT's estimate_mfu: 6N + 12·L·H·Q·T FLOPs per token), same model, batch, window, "
        "threads; the two paths alternate step by step; tokens/s at the median step after the warm-up"
    )
    header = f"{'size':<6} {'params':>7} {'B x T':>9} {'steps':>5} | {'plain eager':>20} | {'trainer (SDPA)':>20} | {'ratio':>6}"
    compiled = any("trainer_compiled" in s for s in result["sizes"])
    if compiled:
        header += f" | {'trainer + compile':>20} | {'ratio':>6}"
    lines.append(header)
    for s in result["sizes"]:
        g = s["geometry"]

        def cell(f: dict[str, Any]) -> str:
            return f"{f['tokens_per_s']:>9,.0f} tok/s {100 * f['mfu']:>5.1f}%"

        row = (
            f"{s['size']:<6} {human(s['parameters']):>7} {g['batch']:>4}x{g['seq_len']:<4} {g['warmup']}+{g['steps']:<3} | "
            f"{cell(s['baseline']):>20} | {cell(s['trainer']):>20} | {s['ratio']:>5.2f}x"
        )
        if "trainer_compiled" in s:
            row += f" | {cell(s['trainer_compiled']):>20} | {s['ratio_compiled']:>5.2f}x"
        lines.append(row)
    for s in result["sizes"]:
        b, t = s["baseline"], s["trainer"]
        lines.append(
            f"  {s['size']}: {human(s['flops_per_token'])}FLOP/token; micro-batch {b['micro_batch']} (plain) / {t['micro_batch']} "
            f"(trainer) windows; step-1 loss {b['losses'][0]:.4f} (plain) / {t['losses'][0]:.4f} (trainer)"
        )
        lines.append(
            f"    steps, s: plain {', '.join(f'{x:.3g}' for x in b['step_s'])}; trainer {', '.join(f'{x:.3g}' for x in t['step_s'])}"
        )
        if "trainer_compiled" in s:
            c, bc = s["trainer_compiled"], s["baseline_beside_compiled"]
            lines.append(
                f"    compiled run, steps, s: plain {', '.join(f'{x:.3g}' for x in bc['step_s'])}; "
                f"trainer + compile {', '.join(f'{x:.3g}' for x in c['step_s'])} (ratio against the plain steps beside it)"
            )
        if p["table_flops"] is not None:
            paths = [("plain", b), ("trainer", t)] + ([("compiled", s["trainer_compiled"])] if "trainer_compiled" in s else [])
            lines.append(
                "    MFU against the measured peak instead: "
                + ", ".join(f"{label} {100 * f['mfu_vs_measured_peak']:.1f}%" for label, f in paths)
            )
    lines.append("")
    lines.append(f"inference: greedy generation, tokens/s (prompt processing included), median of {result['rounds']} round(s)")
    lines.append(f"{'size':<6} {'prompt':>6} {'tokens':>6} | {'no cache':>10} | {'KV cache':>10} | {'ratio':>6} | same tokens")
    for s in result["sizes"]:
        i = s["inference"]
        lines.append(
            f"{s['size']:<6} {i['prompt_bytes']:>6} {i['gen_tokens']:>6} | {i['no_cache']['tokens_per_s']:>10,.1f} | "
            f"{i['kv_cache']['tokens_per_s']:>10,.1f} | {i['ratio']:>5.2f}x | {'yes' if i['same_tokens'] else 'NO'}"
        )
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.trainer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]; CUDA runs under bf16 autocast")
    ap.add_argument("--sizes", default=None, help="comma-separated ModelConfig sizes (default: tiny,small on CPU, small,base on CUDA)")
    ap.add_argument("--quick", action="store_true", help="a few small steps and one inference round: a smoke run")
    ap.add_argument(
        "--compile",
        action="store_true",
        help="also time trainer.train under torch.compile (CPU: ~70 s per size to compile, ~10 s once cached)",
    )
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads (default: os.cpu_count())")
    ap.add_argument(
        "--rounds", type=int, default=None, help="inference: alternating rounds with and without the cache (default 3, --quick 1)"
    )
    ap.add_argument("--steps", type=int, default=None, help="measured steps per path (default per size)")
    ap.add_argument("--batch", type=int, default=None, help="windows per optimiser step (default per size)")
    ap.add_argument("--seq-len", type=int, default=None, help="window length T (default per size, at most block_size)")
    ap.add_argument(
        "--micro-batch-tokens",
        type=int,
        default=None,
        help="the trainer's micro-batch (default: the device's limits, 4096 on CPU, 16384 on CUDA)",
    )
    ap.add_argument("--gen-tokens", type=int, default=None, help="inference: bytes to generate (default per size)")
    ap.add_argument("--peak", choices=("auto", "measured", "table"), default="auto", help="MFU denominator on CUDA (CPU: always measured)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = ap.parse_args(argv)

    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        say("--device cuda: no CUDA device is available to this PyTorch")
        return 2
    if device.type not in ("cpu", "cuda"):
        say(f"--device {args.device}: only cpu and cuda are supported")
        return 2
    torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True  # what autocast leaves in fp32 (nanoGPT does the same)
        torch.backends.cudnn.allow_tf32 = True
    names = (args.sizes or ("small,base" if device.type == "cuda" else "tiny,small")).split(",")
    table = QUICK_GEOMETRY if args.quick else GPU_GEOMETRY if device.type == "cuda" else CPU_GEOMETRY
    for name in names:
        ModelConfig.named(name)  # an unknown size fails before any work
    given = {"steps": args.steps, "batch": args.batch, "seq_len": args.seq_len, "gen_tokens": args.gen_tokens}
    overrides = {k: v for k, v in given.items() if v}

    result: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "compile": args.compile,
        "quick": args.quick,
        "rounds": args.rounds,
        "conditions_start": conditions(),
    }
    kind = "bf16" if device.type == "cuda" else "fp32"
    say(f"peak: {kind} matmul loop on {device}, {result['threads']} threads")
    measurements = [measure_matmul_peak(device, args.quick)]
    say(f"  {human(measurements[0]['flops'])}FLOP/s")
    geometries = {name: Geometry(**(asdict(table[name]) | overrides)) for name in names}
    need = max(g.seq_len * g.batch * (max(g.warmup, 2) + g.steps) for g in geometries.values())
    data = corpus(max(1 << 18, need // training.MAX_EPOCHS + (1 << 16)))  # epochs x data covers every step's tokens
    result["sizes"] = []
    for name in names:
        result["sizes"].append(bench_size(name, geometries[name], args, device, data))
    if not args.quick:
        say(f"peak again: {kind} matmul loop (the best of both counts)")
        measurements.append(measure_matmul_peak(device, args.quick))
        say(f"  {human(measurements[-1]['flops'])}FLOP/s")
    result["peak"] = peak(device, args.peak, measurements)
    for size in result["sizes"]:
        add_mfu(size, result["peak"])
    result["conditions_end"] = conditions()
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
