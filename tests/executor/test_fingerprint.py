"""Fingerprint encodings, decoding, the tolerance comparison and the profile rule (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from ax0n.spec import fingerprint as fp
from ax0n.v1 import types_pb2


@pytest.fixture
def chunk() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((32, 576)).astype(np.float32)


@pytest.mark.parametrize("p", [65537, fp.FP32_PRIME])
def test_polynomial_interpolates_every_point(p: int) -> None:
    rng = np.random.default_rng(1)
    xs = rng.choice(200_000, size=128, replace=False)
    ys = rng.integers(0, min(p, 1 << 32), size=128)
    coeffs = fp.interpolate(xs, ys, p)
    assert len(coeffs) == 128 and coeffs.max() < p
    assert np.array_equal(fp.evaluate(coeffs, xs, p), ys)


def test_bf16_chunk_is_compact_and_roundtrips(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk, fp.BF16)
    assert len(data) == 6 + (128 * 17 + 7) // 8 == 278  # bytes per 32 tokens at k = 128
    p, coeffs = fp.decode_chunk(data, fp.BF16)
    assert p == 65537 and len(coeffs) == 128
    idx, values = fp.top_k(chunk, 128)
    assert np.array_equal(fp.evaluate(coeffs, idx, p), fp.bf16_bits(values))
    assert fp.check_chunk(chunk, data, fp.BF16) == fp.ChunkCheck(128, 0, 0.0, 0.0)


def test_fp32_chunk_keeps_every_bit(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk, fp.FP32)
    assert len(data) == 2 + (128 * 33 + 7) // 8 == 530  # bytes per 32 tokens at k = 128
    p, coeffs = fp.decode_chunk(data, fp.FP32)
    idx, values = fp.top_k(chunk, 128)
    assert np.array_equal(fp.evaluate(coeffs, idx, p), fp.fp32_bits(values))
    assert fp.check_chunk(chunk, data, fp.FP32) == fp.ChunkCheck(128, 0, 0.0, 0.0)


def test_large_chunks_pick_an_injective_prime() -> None:
    chunk = np.zeros((32, 8192), dtype=np.float32)
    idx = np.array([5, 5 + 65537, 9, 9 + 2 * 65537, 70_000])
    chunk.reshape(-1)[idx] = [9.0, -8.0, 7.0, 6.0, 5.0]
    k5 = fp.Profile(fp.BF16.encoding, 32, 5, fp.PAPER)
    data = fp.encode_chunk(chunk, k5)
    p, _ = fp.decode_chunk(data, k5)
    assert p > 65537 and len({int(i) % p for i in idx}) == 5
    assert fp.check_chunk(chunk, data, k5).mismatches == 0


def test_bf16_rounding_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal(10_000).astype(np.float32) * 1e3
    ref = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().astype(np.int64) & 0xFFFF
    assert np.array_equal(fp.bf16_bits(x), ref)


def _scaled(chunk: np.ndarray, rel: float, seed: int) -> np.ndarray:
    return (chunk * (1 + rel * np.random.default_rng(seed).standard_normal(chunk.shape))).astype(np.float32)


def test_tolerances_separate_noise_levels(chunk: np.ndarray) -> None:
    for profile in (fp.FP32, fp.BF16):
        data = fp.encode_chunk(chunk, profile)
        assert fp.check_chunk(_scaled(chunk, 1e-6, 2), data, profile).passes(profile.tolerance)
        other = fp.check_chunk(np.random.default_rng(4).standard_normal(chunk.shape).astype(np.float32), data, profile)
        assert not other.passes(profile.tolerance) and other.mismatches > 100
    # bf16 resolution (2^-8) hides a 1e-4 relative change; the fp32 profile sees it
    data = fp.encode_chunk(chunk, fp.FP32)
    assert not fp.check_chunk(_scaled(chunk, 1e-4, 5), data, fp.FP32).passes(fp.FP32.tolerance)
    bf16 = fp.encode_chunk(chunk, fp.BF16)
    assert fp.check_chunk(_scaled(chunk, 1e-4, 5), bf16, fp.BF16).passes(fp.PAPER)


def test_malformed_chunks_are_rejected(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk, fp.BF16)
    for bad, match in [
        (b"", "shorter"),
        (data[:-1], "must be 278 bytes"),
        (b"\x00\x00\xff\xf1" + data[4:], "invalid modulus"),  # 65521 < 65537
        (b"\x00\x01\x00\x00" + data[4:], "invalid modulus"),  # 65536 is not prime
    ]:
        with pytest.raises(fp.FingerprintError, match=match):
            fp.decode_chunk(bad, fp.BF16)
    data = fp.encode_chunk(chunk, fp.FP32)
    for bad, match in [(b"\x00", "shorter"), (data[:-1], "must be 530 bytes"), (b"\x00\x00" + data[2:], "k 0")]:
        with pytest.raises(fp.FingerprintError, match=match):
            fp.decode_chunk(bad, fp.FP32)
    with pytest.raises(fp.FingerprintError, match="out of the field"):
        fp.decode_chunk(data[:2] + b"\xff" * (len(data) - 2), fp.FP32)
    k64 = fp.Profile(fp.FP32.encoding, 32, 64, fp.FP32.tolerance)
    with pytest.raises(fp.FingerprintError, match="expected 128"):
        fp.check_chunk(chunk, fp.encode_chunk(chunk, k64), fp.FP32)


def test_the_registered_precision_fixes_the_profile(chunk: np.ndarray) -> None:
    assert fp.profile_for("float32") is fp.FP32 and fp.profile_for("bfloat16") is fp.profile_for("float16") is fp.BF16
    with pytest.raises(ValueError, match="no fingerprint profile"):
        fp.profile_for("int8")
    hidden = np.concatenate([chunk, chunk[:8]])  # 40 tokens: two chunks
    honest = fp.fingerprint(hidden, fp.FP32)
    assert fp.parameters_fault(honest, fp.FP32, 40) == ""
    weak = types_pb2.Fingerprint(chunk_tokens=40, top_k=1, encoding=fp.FP32.encoding, chunks=[b"\x00\x01" + bytes(5)])
    coarse = fp.fingerprint(hidden, fp.BF16)
    for f in (weak, coarse):
        assert "not the registered profile's" in fp.parameters_fault(f, fp.FP32, 40)
    assert "wrong number of chunks" in fp.parameters_fault(honest, fp.FP32, 80)
    receipt = types_pb2.Receipt(fingerprint=honest, output_token_ids=list(range(40)))
    receipt.reference.dtype = "float32"
    assert fp.receipt_fault(receipt, "float32") == ""
    assert "registered in bfloat16" in fp.receipt_fault(receipt, "bfloat16")
