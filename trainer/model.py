"""A byte-level causal transformer (GPT-style), after nanoGPT's ``model.py``.

Tokens are the 256 byte values and nothing else: no tokenizer, no special tokens, so any UTF-8
text trains and every generated token is a byte. Token and learned position embeddings,
pre-LayerNorm blocks (attention through ``scaled_dot_product_attention``, then a 4x MLP), a final
LayerNorm and a head tied to the token embedding (``F.linear(x, wte.weight)``: the tie has no
second tensor, so a state dict has each weight once and safetensors can hold it). No biases.

Guarantees:
- **Determinism.** ``build_model(config, seed=s)`` gives the same weights for the same seed on any
  device: weights are drawn on the CPU from a private ``torch.Generator`` (the global RNG is never
  touched) and then copied.
- **A config read from outside is bounded.** ``ModelConfig`` refuses non-positive sizes, a block
  longer than the chain's ``MAX_SEQ_LEN``, and more than ``MAX_PARAMETERS`` parameters, so an
  artifact cannot make a loader allocate without limit.
- **KV cache.** ``forward(idx, cache=...)`` appends the new positions' keys and values to the
  cache and attends over all of them; a step of one token costs O(context), not O(context²).
  The logits are those of the same tokens without a cache (tests/test_trainer_model.py).
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

VOCAB_SIZE = 256  # one token per byte value
MAX_BLOCK_SIZE = 8_192  # programs/mirror/src/constants.rs MAX_SEQ_LEN: longer windows could never be asked for
MAX_PARAMETERS = 128_000_000  # a config larger than this is refused (fp32 artifact ≤ 512 MB)
INIT_STD = 0.02


@dataclass(frozen=True)
class ModelConfig:
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # the longest window the model sees (position embeddings); training windows are cut to it
    dropout: float = 0.0

    SIZES: ClassVar[dict[str, ModelConfig]]

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "n_embd", "block_size"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if type(self.dropout) not in (int, float) or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), not {self.dropout!r}")
        object.__setattr__(self, "dropout", float(self.dropout))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")
        if self.block_size > MAX_BLOCK_SIZE:
            raise ValueError(f"block_size {self.block_size} exceeds {MAX_BLOCK_SIZE}")
        if self.num_parameters() > MAX_PARAMETERS:
            raise ValueError(f"{self.num_parameters()} parameters exceed {MAX_PARAMETERS}")

    @classmethod
    def named(cls, name: str) -> ModelConfig:
        try:
            return cls.SIZES[name]
        except KeyError:
            raise ValueError(f"unknown model size {name!r}; known: {', '.join(cls.SIZES)}") from None

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: object) -> ModelConfig:
        """From untrusted JSON: exactly the fields, of the right types, else ValueError."""
        if not isinstance(value, dict):
            raise ValueError("a model config must be an object")
        names = {"n_layer", "n_head", "n_embd", "block_size", "dropout"}
        if set(value) != names:
            raise ValueError(f"a model config has exactly the fields {sorted(names)}, not {sorted(map(str, value))}")
        return cls(**value)

    def num_parameters(self, *, non_embedding: bool = False) -> int:
        """Parameters of the model; ``non_embedding`` leaves out the position embedding (nanoGPT's
        convention: the token embedding stays in since the head reuses it)."""
        e = self.n_embd
        block = 12 * e * e + 2 * e  # qkv 3e², proj e², mlp 8e², two LayerNorm weights
        position = self.block_size * e
        total = VOCAB_SIZE * e + position + self.n_layer * block + e
        return total - position if non_embedding else total


ModelConfig.SIZES = {
    "tiny": ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=64),  # tests: ~36k parameters
    "small": ModelConfig(n_layer=4, n_head=4, n_embd=256, block_size=256),  # the CPU default: ~3.3M
    "base": ModelConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024),  # GPT-2-small class: ~86M, for a GPU
}


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The state dict of ``GPT(config)``: names and shapes, without building it."""
    e = config.n_embd
    shapes: dict[str, tuple[int, ...]] = {"wte.weight": (VOCAB_SIZE, e), "wpe.weight": (config.block_size, e)}
    for i in range(config.n_layer):
        shapes |= {
            f"blocks.{i}.ln_1.weight": (e,),
            f"blocks.{i}.attn.c_attn.weight": (3 * e, e),
            f"blocks.{i}.attn.c_proj.weight": (e, e),
            f"blocks.{i}.ln_2.weight": (e,),
            f"blocks.{i}.mlp.c_fc.weight": (4 * e, e),
            f"blocks.{i}.mlp.c_proj.weight": (e, 4 * e),
        }
    shapes["ln_f.weight"] = (e,)
    return shapes


def estimate_flops_per_token(config: ModelConfig, seq_len: int | None = None) -> int:
    """Training FLOPs (forward and backward) per token, nanoGPT's ``estimate_mfu`` formula:
    6N for the weights' matmuls plus 12·L·H·Q·T for attention (PaLM appendix B), with N the
    non-embedding parameters, Q the head size and T the window (``block_size`` by default)."""
    t = config.block_size if seq_len is None else seq_len
    n = config.num_parameters(non_embedding=True)
    return 6 * n + 12 * config.n_layer * config.n_head * config.head_dim * t


def estimate_mfu(config: ModelConfig, tokens_per_second: float, peak_flops: float, seq_len: int | None = None) -> float:
    """Model FLOPs utilisation: achieved training FLOP/s over the hardware's peak."""
    return estimate_flops_per_token(config, seq_len) * tokens_per_second / peak_flops


class KVCache:
    """The keys and values of the positions seen so far, for every layer; one per generation."""

    def __init__(self, config: ModelConfig, batch: int, device: torch.device, dtype: torch.dtype) -> None:
        shape = (config.n_layer, batch, config.n_head, config.block_size, config.head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # positions held

    def reset(self) -> None:
        self.length = 0


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in self.c_attn(x).split(c, dim=2))
        dropout = self.dropout if self.training else 0.0
        if cache is None or cache.length == 0:
            if cache is not None:
                cache.keys[layer, :, :, :t] = k
                cache.values[layer, :, :, :t] = v
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
        else:
            start = cache.length
            cache.keys[layer, :, :, start : start + t] = k
            cache.values[layer, :, :, start : start + t] = v
            k = cache.keys[layer, :, :, : start + t]
            v = cache.values[layer, :, :, : start + t]
            # is_causal aligns the mask top-left when queries are fewer than keys, which is wrong
            # here: query i sits at position start+i and sees keys 0..start+i.
            mask = None if t == 1 else torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(diagonal=start)
            y = F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        out: Tensor = self.resid_dropout(self.c_proj(y))
        return out


class MLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.dropout(self.c_proj(F.gelu(self.c_fc(x))))
        return out


class Block(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=False)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        out: Tensor = x + self.mlp(self.ln_2(x))
        return out


class GPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(VOCAB_SIZE, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=False)

    def forward(self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, 256) of the next byte at each position and, with ``targets``, the mean
        cross-entropy. With ``cache`` the positions continue after those it holds."""
        t = idx.shape[1]
        start = cache.length if cache is not None else 0
        if start + t > self.config.block_size:
            raise ValueError(f"{start + t} positions exceed block_size {self.config.block_size}")
        pos = torch.arange(start, start + t, dtype=torch.long, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i)
        if cache is not None:
            cache.length = start + t
        logits = F.linear(self.ln_f(x), self.wte.weight)
        loss = None if targets is None else F.cross_entropy(logits.view(-1, VOCAB_SIZE).float(), targets.reshape(-1))
        return logits, loss

    def new_cache(self, batch: int = 1, dtype: torch.dtype | None = None) -> KVCache:
        weight = self.wte.weight
        return KVCache(self.config, batch, weight.device, dtype or weight.dtype)

    @torch.no_grad()
    def init_weights(self, generator: torch.Generator) -> None:
        """nanoGPT's init: N(0, 0.02), residual projections scaled by 1/sqrt(2·n_layer), LayerNorm 1.
        Drawn on the CPU in named order, so every device gets the same numbers."""
        residual_std = INIT_STD / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.startswith("ln_f") or ".ln_" in name:
                p.fill_(1.0)
            else:
                std = residual_std if name.endswith("c_proj.weight") else INIT_STD
                p.copy_(torch.empty(p.shape, dtype=torch.float32).normal_(0.0, std, generator=generator))


def build_model(config: ModelConfig, *, device: str | torch.device = "cpu", seed: int | None = 0) -> GPT:
    """A model on ``device``: initialised from ``seed``, or left uninitialised (``seed=None``)
    for a caller that loads a state dict next."""
    with torch.device("meta"):
        model = GPT(config)
    model.to_empty(device=device)
    if seed is not None:
        model.init_weights(torch.Generator(device="cpu").manual_seed(seed))
    return model


def parameter_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def tensor_bytes(t: torch.Tensor) -> memoryview:
    """The bytes of a contiguous CPU tensor, without a copy (no numpy). Keep ``t`` alive while in use."""
    if t.device.type != "cpu" or not t.is_contiguous():
        raise ValueError("a contiguous CPU tensor is needed")
    size = t.numel() * t.element_size()
    if size == 0:
        return memoryview(b"")
    return memoryview((ctypes.c_char * size).from_address(t.data_ptr())).cast("B")


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 matmuls on CUDA (training and generation; the bench's MFU); full fp32 on the CPU, where bf16
    buys little and costs determinism checks."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
