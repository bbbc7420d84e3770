"""LLM-tier activation fingerprints, after TOPLOC (Ong et al., 2025, arXiv:2501.16007).

For every chunk of `CHUNK_TOKENS` generated tokens, the executor takes the last hidden state (after the
final norm) at the positions that produced those tokens, flattens the chunk to one vector, and keeps its
top-k entries by magnitude. The k (index, value) pairs are committed to as the unique polynomial of
degree < k over GF(p) through the points (index mod p, bf16 bits of the value): storing its k
coefficients stores the pairs without storing the indices.

Chunk encoding (``ENCODING``), big-endian: ``u32 p ‖ u16 k ‖ k coefficients, each packed in
p.bit_length() bits, zero-padded to a whole byte``. p is the smallest prime ≥ 65537 that maps the k
indices to distinct residues (65537 for any chunk of ≤ 65537 values), so every 16-bit value is a field
element and nothing wraps. k = 128 takes 278 bytes per 32 tokens (TOPLOC's own format: 258).

A verifier recomputes the hidden states by one prefill, takes *its own* top-k indices, evaluates the
polynomial there and compares the claimed bf16 values with its own: sign+exponent mismatches (an index
the executor did not have evaluates to noise and counts as a mismatch, which is how index overlap enters),
and the mean and median mantissa difference over the matching ones. The check passes when all three stay
within a `Tolerance`.
"""

from __future__ import annotations

import statistics
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np

ENCODING = "toploc-poly-bf16-v1"
CHUNK_TOKENS = 32
TOP_K = 128
_MIN_PRIME = 65537


class FingerprintError(ValueError):
    """An encoded chunk is malformed."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Acceptance thresholds for one chunk (bf16 sign+exponent mismatches out of k, mantissa errors in ULPs)."""

    max_exp_mismatches: int
    max_mant_mean: float
    max_mant_median: float


# TOPLOC's published thresholds, set for bf16 inference across GPUs and kernels (k = 128).
PAPER = Tolerance(max_exp_mismatches=38, max_mant_mean=10.0, max_mant_median=8.0)
# An fp32 reference on CPU moves hidden states by ~1e-5 relative (threads, KV cache, batching, ISA):
# far below one bf16 ULP (2^-8 relative), so honest chunks show ~0 mantissa error. bf16 execution of an
# fp32-registered model moves them by ~1e-2 (several ULPs): these thresholds separate the two.
FP32 = Tolerance(max_exp_mismatches=12, max_mant_mean=0.5, max_mant_median=0.0)


def tolerance_for(dtype: str) -> Tolerance:
    """The thresholds for a model registered (and re-executed) in `dtype`."""
    return FP32 if dtype in ("float32", "fp32") else PAPER


@dataclass(frozen=True, slots=True)
class ChunkCheck:
    """What comparing one chunk found."""

    k: int
    exp_mismatches: int
    mant_mean: float
    mant_median: float

    def passes(self, tol: Tolerance) -> bool:
        return (
            self.exp_mismatches <= tol.max_exp_mismatches
            and self.mant_mean <= tol.max_mant_mean
            and self.mant_median <= tol.max_mant_median
        )


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 → bf16 bit patterns (round to nearest even, as torch does), as int64."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.int64)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n**0.5) + 1))


def _modulus(indices: np.ndarray) -> int:
    p = _MIN_PRIME
    while True:
        if _is_prime(p) and len(np.unique(indices % p)) == len(indices):
            return p
        p += 1


@cache
def _bits(p: int) -> int:
    return p.bit_length()


@cache
def _inverses(p: int) -> np.ndarray:
    """Table of modular inverses of 0..p-1 (Fermat: a^(p-2), vectorised; 0 maps to 0)."""
    result = np.ones(p, dtype=np.int64)
    base = np.arange(p, dtype=np.int64)
    e = p - 2
    while e:
        if e & 1:
            result = result * base % p
        base = base * base % p
        e >>= 1
    return result


def interpolate(xs: np.ndarray, ys: np.ndarray, p: int) -> np.ndarray:
    """Monomial coefficients (lowest first) of the polynomial of degree < len(xs) through (xs, ys) mod p."""
    xs = xs.astype(np.int64) % p
    coef = ys.astype(np.int64) % p
    k = len(xs)
    for j in range(1, k):  # Newton divided differences
        coef[j:] = (coef[j:] - coef[j - 1 : -1]) % p * _inverses(p)[(xs[j:] - xs[: k - j]) % p] % p
    poly = np.array([coef[-1]], dtype=np.int64)
    for i in range(k - 2, -1, -1):  # expand the Newton form: poly = poly·(x - x_i) + c_i
        nxt = np.zeros(len(poly) + 1, dtype=np.int64)
        nxt[1:] = poly
        nxt[:-1] = (nxt[:-1] - xs[i] * poly) % p
        nxt[0] = (nxt[0] + coef[i]) % p
        poly = nxt
    return poly


def evaluate(coeffs: np.ndarray, xs: np.ndarray, p: int) -> np.ndarray:
    """The polynomial at each of `xs` (Horner, vectorised over the points)."""
    xs = xs.astype(np.int64) % p
    acc = np.zeros(len(xs), dtype=np.int64)
    for c in coeffs[::-1]:
        acc = (acc * xs + c) % p
    return acc


def top_k(chunk: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the flattened chunk) and values of its k largest-magnitude entries."""
    flat = np.ascontiguousarray(chunk, dtype=np.float32).reshape(-1)
    k = min(k, flat.size)
    idx = np.argpartition(-np.abs(flat), k - 1)[:k]
    return idx.astype(np.int64), flat[idx]


def encode_chunk(chunk: np.ndarray, k: int = TOP_K) -> bytes:
    """Fingerprint one chunk of hidden states, shape (tokens, hidden), as bytes."""
    idx, values = top_k(chunk, k)
    p = _modulus(idx)
    coeffs = interpolate(idx, bf16_bits(values), p)
    b = _bits(p)
    bits = ((coeffs[:, None] >> np.arange(b - 1, -1, -1)) & 1).astype(np.uint8).reshape(-1)
    return struct.pack(">IH", p, len(coeffs)) + np.packbits(bits).tobytes()


def decode_chunk(data: bytes) -> tuple[int, np.ndarray]:
    """(p, coefficients) of an encoded chunk; raises FingerprintError when malformed."""
    if len(data) < 6:
        raise FingerprintError("chunk shorter than its 6-byte header")
    p, k = struct.unpack(">IH", data[:6])
    if p < _MIN_PRIME or p >= 2**31 or not _is_prime(p) or k == 0:
        raise FingerprintError(f"chunk header has invalid modulus {p} or k {k}")
    b = _bits(p)
    if len(data) != 6 + (k * b + 7) // 8:
        raise FingerprintError(f"chunk of k={k} must be {6 + (k * b + 7) // 8} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=6))[: k * b].reshape(k, b).astype(np.int64)
    coeffs = bits @ (1 << np.arange(b - 1, -1, -1, dtype=np.int64))
    if np.any(coeffs >= p):
        raise FingerprintError("chunk coefficient out of the field")
    return p, coeffs


def check_chunk(chunk: np.ndarray, data: bytes, k: int = TOP_K) -> ChunkCheck:
    """Compare recomputed hidden states `chunk` with an encoded fingerprint chunk."""
    p, coeffs = decode_chunk(data)
    if len(coeffs) != min(k, chunk.size):
        raise FingerprintError(f"chunk has k={len(coeffs)}, expected {min(k, chunk.size)}")
    idx, values = top_k(chunk, k)
    claimed = evaluate(coeffs, idx, p)
    mine = bf16_bits(values)
    exp_match = (claimed < 1 << 16) & ((claimed >> 7) == (mine >> 7))
    mant = np.abs((claimed & 0x7F) - (mine & 0x7F))[exp_match]
    if mant.size == 0:
        return ChunkCheck(len(idx), len(idx), float("inf"), float("inf"))
    return ChunkCheck(
        len(idx), int(len(idx) - exp_match.sum()), float(mant.mean()), float(statistics.median(mant.tolist()))
    )


def chunks(hidden: np.ndarray, chunk_tokens: int = CHUNK_TOKENS) -> list[np.ndarray]:
    """Split hidden states of shape (tokens, hidden) into consecutive chunks of `chunk_tokens` rows."""
    return [hidden[i : i + chunk_tokens] for i in range(0, len(hidden), chunk_tokens)]


def fingerprint(hidden: np.ndarray, chunk_tokens: int = CHUNK_TOKENS, k: int = TOP_K) -> list[bytes]:
    """Encoded chunks for the hidden states of all generated tokens."""
    return [encode_chunk(c, k) for c in chunks(hidden, chunk_tokens)]
