"""Fingerprint encoding, decoding and the tolerance comparison (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from ax0n.spec import fingerprint as fp


@pytest.fixture
def chunk() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((32, 576)).astype(np.float32)


def test_polynomial_interpolates_every_point() -> None:
    rng = np.random.default_rng(1)
    xs = rng.choice(200_000, size=128, replace=False)
    ys = rng.integers(0, 1 << 16, size=128)
    p = fp._modulus(xs)
    coeffs = fp.interpolate(xs, ys, p)
    assert len(coeffs) == 128
    assert np.array_equal(fp.evaluate(coeffs, xs, p), ys)


def test_chunk_is_compact_and_roundtrips(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk)
    assert len(data) == 6 + (128 * 17 + 7) // 8 == 278  # bytes per 32 tokens at k = 128
    p, coeffs = fp.decode_chunk(data)
    assert p == 65537 and len(coeffs) == 128
    idx, values = fp.top_k(chunk, 128)
    assert np.array_equal(fp.evaluate(coeffs, idx, p), fp.bf16_bits(values))
    assert fp.check_chunk(chunk, data) == fp.ChunkCheck(128, 0, 0.0, 0.0)


def test_large_chunks_pick_an_injective_prime() -> None:
    chunk = np.zeros((32, 8192), dtype=np.float32)
    idx = np.array([5, 5 + 65537, 9, 9 + 2 * 65537, 70_000])
    chunk.reshape(-1)[idx] = [9.0, -8.0, 7.0, 6.0, 5.0]
    data = fp.encode_chunk(chunk, k=5)
    p, _ = fp.decode_chunk(data)
    assert p > 65537 and len({int(i) % p for i in idx}) == 5
    assert fp.check_chunk(chunk, data, k=5).exp_mismatches == 0


def test_bf16_rounding_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal(10_000).astype(np.float32) * 1e3
    ref = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().astype(np.int64) & 0xFFFF
    assert np.array_equal(fp.bf16_bits(x), ref)


def test_tolerances_separate_noise_levels(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk)
    rng = np.random.default_rng(2)
    honest = fp.check_chunk(chunk * (1 + 1e-5 * rng.standard_normal(chunk.shape)).astype(np.float32), data)
    assert honest.passes(fp.FP32) and honest.passes(fp.PAPER)
    lower = fp.check_chunk(chunk * (1 + 1e-2 * rng.standard_normal(chunk.shape)).astype(np.float32), data)
    assert not lower.passes(fp.FP32)
    other = fp.check_chunk(rng.standard_normal(chunk.shape).astype(np.float32), data)
    assert not other.passes(fp.PAPER) and other.exp_mismatches > 100


def test_malformed_chunks_are_rejected(chunk: np.ndarray) -> None:
    data = fp.encode_chunk(chunk)
    for bad, match in [
        (b"", "shorter"),
        (data[:-1], "must be 278 bytes"),
        (b"\x00\x00\xff\xf1" + data[4:], "invalid modulus"),  # 65521 < 65537
        (b"\x00\x01\x00\x00" + data[4:], "invalid modulus"),  # 65536 is not prime
    ]:
        with pytest.raises(fp.FingerprintError, match=match):
            fp.decode_chunk(bad)
    with pytest.raises(fp.FingerprintError, match="expected 128"):
        fp.check_chunk(chunk, fp.encode_chunk(chunk, k=64))
