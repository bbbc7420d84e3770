"""Token selection: greedy, or sampling driven by a counter-based RNG keyed by the request id.

The uniform for step i is ``keccak256("ax0n.sample.v1" ‖ request_id ‖ u64be(i))``'s first 8 bytes, top
53 bits, over 2^53: a keyed counter-mode PRF, so any party can recompute step i alone. Sampling walks
the filtered distribution in token-id order (not probability order, which noise can reorder) and picks
the first token whose cumulative probability exceeds the uniform.

Verification accepts a claimed token that an honest run could have produced under ~1e-5 noise in the
logits: for greedy, any token within `TIE_EPS` of the maximum logit; for sampling, a token whose CDF
interval, widened by `CDF_EPS`, holds the uniform, or one that sits at a top-k/top-p boundary tie.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import torch
from eth_utils import keccak

TIE_EPS = 1e-3  # logits: honest runs differ by ~1e-5
CDF_EPS = 1e-4  # cumulative probability


@dataclass(frozen=True, slots=True)
class Decoding:
    """How tokens are chosen and when generation stops."""

    max_tokens: int
    greedy: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)


def uniform(request_id: bytes, step: int) -> float:
    """The counter-based uniform in [0, 1) for `step` of request `request_id`."""
    word = int.from_bytes(keccak(b"ax0n.sample.v1" + bytes(request_id) + struct.pack(">Q", step))[:8], "big")
    return (word >> 11) / float(1 << 53)


def _filtered_probs(logits: torch.Tensor, d: Decoding) -> torch.Tensor:
    """Probabilities (float64) after temperature, top-k and top-p; zero outside the kept set."""
    scores = logits.double() / max(d.temperature, 1e-6)
    if 0 < d.top_k < scores.numel():
        kth = torch.topk(scores, d.top_k).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if 0.0 < d.top_p < 1.0:
        sorted_p, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_p, 0) - sorted_p
        drop = order[before >= d.top_p]
        probs[drop] = 0.0
        probs = probs / probs.sum()
    return probs


def select(logits: torch.Tensor, d: Decoding, request_id: bytes, step: int) -> int:
    """The token for `step` given the last position's logits (shape: vocab)."""
    if d.greedy:
        return int(torch.argmax(logits))
    cdf = torch.cumsum(_filtered_probs(logits, d), 0)
    u = uniform(request_id, step)
    return min(int(torch.searchsorted(cdf, torch.tensor([u], dtype=cdf.dtype), right=True)), cdf.numel() - 1)


def token_margin(logits: torch.Tensor, claimed: int, d: Decoding, request_id: bytes, step: int) -> float:
    """How far a claimed token is from being rejected (≥ 0: accepted; < 0: not an honest choice).

    Greedy: TIE_EPS − (max logit − claimed logit). Sampling: CDF_EPS − distance from the uniform to
    the claimed token's CDF interval (TIE_EPS-scaled boundary ties at top-k/top-p count as 0).
    """
    if not 0 <= claimed < logits.numel():
        return float("-inf")
    if d.greedy:
        return TIE_EPS - float(logits.max() - logits[claimed])
    probs = _filtered_probs(logits, d)
    if probs[claimed] == 0.0:
        relaxed = _filtered_probs(logits + TIE_EPS * (torch.arange(logits.numel()) == claimed), d)
        return 0.0 if relaxed[claimed] > 0.0 else float("-inf")
    hi = float(torch.cumsum(probs, 0)[claimed])
    lo = hi - float(probs[claimed])
    u = uniform(request_id, step)
    return CDF_EPS - max(lo - u, u - hi, 0.0)
