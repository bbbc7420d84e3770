"""BLS12-381 points between compressed form (48-byte G1 keys, 96-byte G2 signatures) and EIP-2537 encoding."""

from __future__ import annotations

from py_ecc.bls.point_compression import compress_G1, decompress_G1, decompress_G2
from py_ecc.optimized_bls12_381 import FQ, normalize


def _fp(value: int) -> bytes:
    return value.to_bytes(64, "big")


def g1_uncompressed(pubkey: bytes) -> bytes:
    """A 48-byte compressed G1 point as the 128-byte x ‖ y encoding (each 64-byte big-endian)."""
    x, y = normalize(decompress_G1(int.from_bytes(pubkey, "big")))
    return _fp(x.n) + _fp(y.n)


def g1_compressed(point: bytes) -> bytes:
    """A 128-byte EIP-2537 G1 encoding (x ‖ y, each 64-byte big-endian) as the 48-byte compressed point; the point
    is not checked to be on the curve (NodeRegistry stores only keys whose proof of possession verified)."""
    if len(point) != 128:
        raise ValueError(f"an EIP-2537 G1 point is 128 bytes, not {len(point)}")
    x, y = int.from_bytes(point[:64], "big"), int.from_bytes(point[64:], "big")
    return compress_G1((FQ(x), FQ(y), FQ.one())).to_bytes(48, "big")


def g2_uncompressed(signature: bytes) -> bytes:
    """A 96-byte compressed G2 point as the 256-byte x.c0 ‖ x.c1 ‖ y.c0 ‖ y.c1 encoding."""
    z1, z2 = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
    x, y = normalize(decompress_G2((z1, z2)))
    return _fp(x.coeffs[0]) + _fp(x.coeffs[1]) + _fp(y.coeffs[0]) + _fp(y.coeffs[1])
