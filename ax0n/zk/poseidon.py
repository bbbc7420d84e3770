"""Poseidon over BN254's scalar field, identical to circomlib's `Poseidon(n)` (via light-poseidon)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from light_poseidon_python import Hasher

# BN254 scalar field order: every circuit signal and public input lives in [0, FIELD).
FIELD = 0x30644E72E131A029B85045B68181585D2833E84879B9709143E1F593F0000001
MAX_ARITY = 12
VECTOR_CHUNK = MAX_ARITY - 1  # elements absorbed per call by `vector_hash`


@cache
def _hasher(arity: int) -> Hasher:
    return Hasher(arity)


def to_field(value: int) -> int:
    """Map a (possibly negative) integer into the field: v mod r."""
    return value % FIELD


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib `Poseidon(len(inputs))` of field elements (1 to 12 of them)."""
    if not 1 <= len(inputs) <= MAX_ARITY:
        raise ValueError(f"poseidon takes 1..{MAX_ARITY} inputs, got {len(inputs)}")
    data = [to_field(v).to_bytes(32, "big") for v in inputs]
    return int(_hasher(len(inputs)).hash_bytes_be(data), 16)


def vector_hash(values: Sequence[int]) -> int:
    """ax0n/zk/circuits/common.circom `VectorHash(N)`: h = N, then h = Poseidon(h, next 11 values, zero-padded)."""
    if not values:
        raise ValueError("vector_hash needs at least one value")
    h = len(values)
    for start in range(0, len(values), VECTOR_CHUNK):
        chunk = list(values[start : start + VECTOR_CHUNK])
        h = poseidon([h, *chunk, *([0] * (VECTOR_CHUNK - len(chunk)))])
    return h


def pack_signed(values: Sequence[int], bits: int, per: int) -> list[int]:
    """ax0n/zk/circuits/common.circom `PackSigned`: offset each value by 2^(bits-1), pack `per` per element, little-endian."""
    offset = 1 << (bits - 1)
    packed = []
    for start in range(0, len(values), per):
        acc = 0
        for k, v in enumerate(values[start : start + per]):
            if not -offset <= v < offset:
                raise ValueError(f"{v} is not a signed {bits}-bit integer")
            acc |= (v + offset) << (bits * k)
        packed.append(acc)
    return packed


def to_bytes32(value: int) -> bytes:
    """A field element as 32 big-endian bytes (how hashes travel in receipts)."""
    return to_field(value).to_bytes(32, "big")
