"""The plain eager PyTorch baseline: the same model as ``trainer.model.GPT``, written the simple way.

Same parameters under the same names (a state dict of one loads into the other), same maths:
token + position embeddings, pre-LayerNorm blocks, a 4x GELU MLP, a head tied to the token
embedding. What differs is how it is computed, as a first implementation would:

- attention by hand, nanoGPT's fallback path: ``q @ kᵀ / √d``, a causal mask applied with
  ``masked_fill``, ``softmax``, ``@ v``; the (T, T) score matrix of every head is materialised
  in the forward pass and kept for the backward one. No ``scaled_dot_product_attention``.
- a training step builds the batch with a Python loop of slices and ``torch.stack`` and runs the
  whole batch in one forward and backward (on CUDA, in chunks of ``micro`` windows when asked, so
  that the score matrices fit in memory), then clips and steps a default ``AdamW``. No
  ``torch.compile``, no fused optimiser.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainer.model import VOCAB_SIZE, ModelConfig


class PlainAttention(nn.Module):
    mask: Tensor

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        mask = torch.tril(torch.ones(config.block_size, config.block_size)).view(1, 1, config.block_size, config.block_size)
        self.register_buffer("mask", mask, persistent=False)  # not in the state dict: GPT has none

    def forward(self, x: Tensor) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q = q.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        k = k.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        v = v.view(b, t, self.n_head, c // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        out: Tensor = self.c_proj(y)
        return out


class PlainMLP(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.c_proj(F.gelu(self.c_fc(x)))
        return out


class PlainBlock(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=False)
        self.attn = PlainAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=False)
        self.mlp = PlainMLP(config)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln_1(x))
        out: Tensor = x + self.mlp(self.ln_2(x))
        return out


class PlainGPT(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(VOCAB_SIZE, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(PlainBlock(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, bias=False)

    def forward(self, idx: Tensor, targets: Tensor) -> Tensor:
        t = idx.shape[1]
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.view(-1, VOCAB_SIZE).float(), targets.reshape(-1))


def plain_optimizer(model: PlainGPT, lr: float) -> torch.optim.AdamW:
    """AdamW with the trainer's hyper-parameters and decay split, PyTorch's default implementation."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    plain = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), eps=1e-8)


def plain_step(
    model: PlainGPT,
    optimizer: torch.optim.Optimizer,
    corpus: Tensor,
    starts: Tensor,
    seq_len: int,
    device: torch.device,
    micro: int | None = None,
) -> float:
    """One optimiser step over the windows starting at ``starts`` (``micro`` at a time, default
    all of them); the step's mean loss."""
    x = torch.stack([corpus[s : s + seq_len] for s in starts.tolist()]).to(device, torch.long)
    y = torch.stack([corpus[s + 1 : s + 1 + seq_len] for s in starts.tolist()]).to(device, torch.long)
    optimizer.zero_grad(set_to_none=True)
    chunk = micro or len(x)
    total = torch.zeros((), device=device)
    for first in range(0, len(x), chunk):
        if device.type == "cuda":  # bf16 matmuls, as the trainer on CUDA
            with torch.autocast("cuda", dtype=torch.bfloat16):
                loss = model(x[first : first + chunk], y[first : first + chunk])
        else:
            loss = model(x[first : first + chunk], y[first : first + chunk])
        share = loss * (len(x[first : first + chunk]) / len(x))
        share.backward()
        total += share.detach()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return float(total.item())
