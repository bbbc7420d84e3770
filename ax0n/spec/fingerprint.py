"""LLM-tier activation fingerprints, after TOPLOC (Ong et al., 2025, arXiv:2501.16007).

For every chunk of `chunk_tokens` generated tokens, the executor takes the last hidden state (after the final
norm) at the positions that produced those tokens, flattens the chunk to one vector, and keeps its top-k entries
by magnitude. The k (index, value) pairs are committed to as the unique polynomial of degree < k over GF(p)
through the points (index mod p, bit pattern of the value): storing its k coefficients stores the pairs without
storing the indices.

What is kept, and how close a re-execution must come, is the **profile** of the model's registered precision
(`profile_for`), never the receipt's choice: a receipt whose encoding, chunk size or k differ from the profile is
rejected before anything is compared (`parameters_fault`).

- `toploc-poly-bf16-v1` (bf16/fp16-registered models): values as bf16 bits, ``u32 p ‖ u16 k ‖ k coefficients of
  p.bit_length() bits``, p the smallest prime ≥ 65537 that keeps the indices distinct mod p (so every 16-bit value
  is a field element); 278 bytes per 32 tokens at k = 128. Compared as TOPLOC does: sign+exponent mismatches
  and the mean and median mantissa difference (bf16 ULPs) over the matching values, TOPLOC's thresholds.
- `ax0n-poly-fp32-v1` (fp32-registered models): values as their full fp32 bits, ``u16 k ‖ k coefficients of 33
  bits`` over the fixed prime p = 2^32 + 15 (every 32-bit pattern is a field element; any chunk of < 2^32 values
  has distinct indices); 530 bytes per 32 tokens at k = 128. Compared by relative error |claimed − own| / |own|:
  values off by more than 2^-7 (or at an index the executor did not have) are mismatches, and the mean and
  median relative error of the rest must stay within thresholds set from measured honest CPU noise.

A verifier recomputes the hidden states by one prefill, takes *its own* top-k indices, evaluates the polynomial
there and compares the claimed values with its own (an index the executor did not have evaluates to noise and
counts as a mismatch, which is how index overlap enters).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import cache

import numpy as np

from ax0n.v1 import types_pb2

_MIN_PRIME = 65537
FP32_PRIME = 2**32 + 15  # the smallest prime above 2^32
_MATCH_REL = 2.0**-7  # fp32 profile: a claimed value further than this (relative) from the verifier's is a mismatch


class FingerprintError(ValueError):
    """An encoded chunk is malformed."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """Acceptance thresholds for one chunk: mismatching values out of k, and the mean and median error of the
    matching ones (bf16 ULPs for the bf16 profile, relative error for the fp32 profile)."""

    max_mismatches: int
    max_err_mean: float
    max_err_median: float


# TOPLOC's published thresholds, set for bf16 inference across GPUs and kernels (k = 128).
PAPER = Tolerance(max_mismatches=38, max_err_mean=10.0, max_err_median=8.0)
# Honest fp32 CPU runs (1/2 threads, KV cache on/off, batched, AVX2/AVX-512 kernels) measured on the tiny model and
# SmolLM2 (docs/executor.md): 0 mismatches of 128, relative error mean ≤ 5.7e-7, median ≤ 4.1e-7 per chunk. The limits
# sit ~7-10× above that; a bf16 value has ~2e-3 resolution, so this encoding sees changes ~500× smaller.
FP32_TOLERANCE = Tolerance(max_mismatches=8, max_err_mean=4e-6, max_err_median=4e-6)


@dataclass(frozen=True, slots=True)
class Profile:
    """Everything that decides a fingerprint: encoding, chunk size, k and the tolerance it is checked with."""

    encoding: str
    chunk_tokens: int
    top_k: int
    tolerance: Tolerance


BF16 = Profile("toploc-poly-bf16-v1", 32, 128, PAPER)
FP32 = Profile("ax0n-poly-fp32-v1", 32, 128, FP32_TOLERANCE)
PROFILES = {"float32": FP32, "bfloat16": BF16, "float16": BF16}


def profile_for(dtype: str) -> Profile:
    """The profile of a model registered (and re-executed) in `dtype`; ValueError for an unknown dtype."""
    try:
        return PROFILES[dtype]
    except KeyError:
        raise ValueError(f"no fingerprint profile for dtype {dtype!r}; one of {sorted(PROFILES)}") from None


def parameters_fault(f: types_pb2.Fingerprint, profile: Profile, output_tokens: int) -> str:
    """Why fingerprint `f` of `output_tokens` tokens is not shaped as `profile` fixes it ('' when it is)."""
    if (f.encoding, f.chunk_tokens, f.top_k) != (profile.encoding, profile.chunk_tokens, profile.top_k):
        return (
            f"fingerprint parameters (encoding {f.encoding!r}, chunk_tokens {f.chunk_tokens}, top_k {f.top_k}) are not "
            f"the registered profile's ({profile.encoding!r}, {profile.chunk_tokens}, {profile.top_k})"
        )
    if len(f.chunks) != math.ceil(output_tokens / profile.chunk_tokens):
        return "fingerprint has the wrong number of chunks for the output"
    return ""


def receipt_fault(receipt: types_pb2.Receipt, dtype: str) -> str:
    """Why an LLM-tier receipt does not follow the profile of its model's registered `dtype` ('' when it does)."""
    if receipt.reference.dtype != dtype:
        return f"executed in {receipt.reference.dtype}, the model is registered in {dtype}"
    return parameters_fault(receipt.fingerprint, profile_for(dtype), len(receipt.output_token_ids))


@dataclass(frozen=True, slots=True)
class ChunkCheck:
    """What comparing one chunk found."""

    k: int
    mismatches: int
    err_mean: float
    err_median: float

    def passes(self, tol: Tolerance) -> bool:
        return (
            self.mismatches <= tol.max_mismatches
            and self.err_mean <= tol.max_err_mean
            and self.err_median <= tol.max_err_median
        )


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 → bf16 bit patterns (round to nearest even, as torch does), as int64."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype(np.int64)


def fp32_bits(values: np.ndarray) -> np.ndarray:
    """float32 bit patterns, as int64."""
    return np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % d for d in range(2, math.isqrt(n) + 1))


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
    """Table of modular inverses of 0..p-1 (Fermat: a^(p-2), vectorised; 0 maps to 0), for p < 2^31."""
    result = np.ones(p, dtype=np.int64)
    base = np.arange(p, dtype=np.int64)
    e = p - 2
    while e:
        if e & 1:
            result = result * base % p
        base = base * base % p
        e >>= 1
    return result


def _mulmod(a: np.ndarray, b: np.ndarray | np.int64, p: int) -> np.ndarray:
    """a·b mod p for int64 operands in [0, p): directly while p < 2^31, else with b split in 16-bit halves (every
    partial product stays below 2^50)."""
    if p < 2**31:
        return a * b % p
    return (((a * (b >> 16) % p) << 16) + a * (b & 0xFFFF)) % p


def _inverse(values: np.ndarray, p: int) -> np.ndarray:
    """Modular inverses (0 maps to 0): a table lookup while p < 2^31, else a^(p-2) vectorised."""
    if p < 2**31:
        return _inverses(p)[values]
    result, base, e = np.ones_like(values), values.copy(), p - 2
    while e:
        if e & 1:
            result = _mulmod(result, base, p)
        base = _mulmod(base, base, p)
        e >>= 1
    return result


def interpolate(xs: np.ndarray, ys: np.ndarray, p: int) -> np.ndarray:
    """Monomial coefficients (lowest first) of the polynomial of degree < len(xs) through (xs, ys) mod p."""
    xs, coef = xs.astype(np.int64) % p, ys.astype(np.int64) % p
    k = len(xs)
    gaps = [(xs[j:] - xs[: k - j]) % p for j in range(1, k)]
    inverses = np.split(_inverse(np.concatenate(gaps), p), np.cumsum([len(g) for g in gaps])[:-1]) if gaps else []
    for j in range(1, k):  # Newton divided differences
        coef[j:] = _mulmod((coef[j:] - coef[j - 1 : -1]) % p, inverses[j - 1], p)
    poly = coef[-1:].copy()
    for i in range(k - 2, -1, -1):  # expand the Newton form: poly = poly·(x - x_i) + c_i
        nxt = np.zeros(len(poly) + 1, dtype=np.int64)
        nxt[1:] = poly
        nxt[:-1] = (nxt[:-1] - _mulmod(poly, xs[i], p)) % p
        nxt[0] = (nxt[0] + coef[i]) % p
        poly = nxt
    return poly


def evaluate(coeffs: np.ndarray, xs: np.ndarray, p: int) -> np.ndarray:
    """The polynomial at each of `xs` (Horner, vectorised over the points)."""
    xs = xs.astype(np.int64) % p
    acc = np.zeros(len(xs), dtype=np.int64)
    for c in coeffs[::-1]:
        acc = (_mulmod(acc, xs, p) + c) % p
    return acc


def top_k(chunk: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (into the flattened chunk) and values of its k largest-magnitude entries."""
    flat = np.ascontiguousarray(chunk, dtype=np.float32).reshape(-1)
    k = min(k, flat.size)
    idx = np.argpartition(-np.abs(flat), k - 1)[:k]
    return idx.astype(np.int64), flat[idx]


def _pack(coeffs: np.ndarray, b: int) -> bytes:
    bits = ((coeffs[:, None] >> np.arange(b - 1, -1, -1)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(bits).tobytes()


def _unpack(data: bytes, offset: int, k: int, b: int, p: int) -> np.ndarray:
    if len(data) != offset + (k * b + 7) // 8:
        raise FingerprintError(f"chunk of k={k} must be {offset + (k * b + 7) // 8} bytes, got {len(data)}")
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8, offset=offset))[: k * b].reshape(k, b).astype(np.int64)
    coeffs = bits @ (1 << np.arange(b - 1, -1, -1, dtype=np.int64))
    if np.any(coeffs >= p):
        raise FingerprintError("chunk coefficient out of the field")
    return coeffs


def encode_chunk(chunk: np.ndarray, profile: Profile = FP32) -> bytes:
    """Fingerprint one chunk of hidden states, shape (tokens, hidden), as bytes in `profile`'s encoding."""
    idx, values = top_k(chunk, profile.top_k)
    if profile.encoding == FP32.encoding:
        return struct.pack(">H", len(idx)) + _pack(interpolate(idx, fp32_bits(values), FP32_PRIME), 33)
    p = _modulus(idx)
    return struct.pack(">IH", p, len(idx)) + _pack(interpolate(idx, bf16_bits(values), p), _bits(p))


def decode_chunk(data: bytes, profile: Profile = FP32) -> tuple[int, np.ndarray]:
    """(p, coefficients) of an encoded chunk; raises FingerprintError when malformed."""
    if profile.encoding == FP32.encoding:
        if len(data) < 2:
            raise FingerprintError("chunk shorter than its 2-byte header")
        (k,) = struct.unpack(">H", data[:2])
        if k == 0:
            raise FingerprintError("chunk header has k 0")
        return FP32_PRIME, _unpack(data, 2, k, 33, FP32_PRIME)
    if len(data) < 6:
        raise FingerprintError("chunk shorter than its 6-byte header")
    p, k = struct.unpack(">IH", data[:6])
    if p < _MIN_PRIME or p >= 2**31 or not _is_prime(p) or k == 0:
        raise FingerprintError(f"chunk header has invalid modulus {p} or k {k}")
    return p, _unpack(data, 6, k, _bits(p), p)


def check_chunk(chunk: np.ndarray, data: bytes, profile: Profile = FP32) -> ChunkCheck:
    """Compare recomputed hidden states `chunk` with an encoded fingerprint chunk, in `profile`'s terms."""
    p, coeffs = decode_chunk(data, profile)
    if len(coeffs) != min(profile.top_k, chunk.size):
        raise FingerprintError(f"chunk has k={len(coeffs)}, expected {min(profile.top_k, chunk.size)}")
    idx, values = top_k(chunk, profile.top_k)
    claimed = evaluate(coeffs, idx, p)
    if profile.encoding == FP32.encoding:
        valid = claimed < 1 << 32
        with np.errstate(invalid="ignore", over="ignore"):
            theirs = np.where(valid, claimed, 0).astype(np.uint32).view(np.float32).astype(np.float64)
            err = np.abs(theirs - values) / np.maximum(np.abs(values.astype(np.float64)), np.finfo(np.float32).tiny)
        match = valid & np.isfinite(err) & (err <= _MATCH_REL)
    else:
        mine = bf16_bits(values)
        match = (claimed < 1 << 16) & ((claimed >> 7) == (mine >> 7))
        err = np.abs((claimed & 0x7F) - (mine & 0x7F)).astype(np.float64)
    if not match.any():
        return ChunkCheck(len(idx), len(idx), float("inf"), float("inf"))
    return ChunkCheck(len(idx), int(len(idx) - match.sum()), float(err[match].mean()), float(np.median(err[match])))


def chunks(hidden: np.ndarray, chunk_tokens: int) -> list[np.ndarray]:
    """Split hidden states of shape (tokens, hidden) into consecutive chunks of `chunk_tokens` rows."""
    return [hidden[i : i + chunk_tokens] for i in range(0, len(hidden), chunk_tokens)]


def fingerprint(hidden: np.ndarray, profile: Profile) -> types_pb2.Fingerprint:
    """The fingerprint of the hidden states of all generated tokens, in `profile`."""
    return types_pb2.Fingerprint(
        chunk_tokens=profile.chunk_tokens,
        top_k=profile.top_k,
        chunks=[encode_chunk(c, profile) for c in chunks(hidden, profile.chunk_tokens)],
        encoding=profile.encoding,
    )
