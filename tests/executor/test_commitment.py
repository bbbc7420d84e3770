"""Model commitments: canonical Merkle root, refusal of changed directories, the `commit` CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from ax0n_executor.models import build_tiny

from ax0n.llm.engine import Engine
from ax0n.spec import commitment


def _rfc9162_root(entries: list[bytes]) -> bytes:
    """Independent RFC 9162 Merkle tree hash, for cross-checking pymerkle."""
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc9162_root(entries[:k]) + _rfc9162_root(entries[k:])).digest()


@pytest.fixture
def model_copy(tiny_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_dir, tmp_path / "copy"))


def test_root_is_rfc9162_over_canonical_entries(tiny_dir: Path) -> None:
    entries = list(commitment.entries(tiny_dir))
    spans = commitment.tensor_spans(tiny_dir)
    assert [s.name for s in spans] == sorted(s.name for s in spans)
    assert len(entries) == len(spans) + sum((tiny_dir / f).is_file() for f in commitment.DEFINITION_FILES)
    assert commitment.commit(tiny_dir) == _rfc9162_root(entries)
    first = spans[0]
    with first.file.open("rb") as f:
        f.seek(first.start)
        data = f.read(first.end - first.start)
    name = first.name.encode()
    expected = b"T" + struct.pack(">H", len(name)) + name + bytes([len(first.dtype)]) + first.dtype.encode()
    expected += bytes([len(first.shape)]) + b"".join(struct.pack(">Q", d) for d in first.shape)
    assert entries[0] == expected + hashlib.sha256(data).digest()


def test_rebuilding_from_the_seed_gives_identical_weights(tiny_dir: Path, tmp_path: Path) -> None:
    again = build_tiny(tmp_path / "again")
    assert commitment.commit(again) == commitment.commit(tiny_dir)
    other = build_tiny(tmp_path / "other", seed=1)
    assert commitment.commit(other) != commitment.commit(tiny_dir)


def _flip_weight_byte(model_dir: Path) -> None:
    span = commitment.tensor_spans(model_dir)[3]
    with span.file.open("r+b") as f:
        f.seek(span.start + 7)
        b = f.read(1)
        f.seek(span.start + 7)
        f.write(bytes([b[0] ^ 1]))


def test_changed_weights_are_refused(model_copy: Path) -> None:
    registered = commitment.commit(model_copy)
    _flip_weight_byte(model_copy)
    with pytest.raises(commitment.CommitmentMismatch, match=r"weights or definition files changed") as err:
        Engine(model_copy, expected_commitment=registered)
    assert registered.hex() in str(err.value)


def test_changed_config_and_extra_tensors_are_refused(model_copy: Path, tiny_dir: Path) -> None:
    registered = commitment.commit(model_copy)
    config = json.loads((model_copy / "config.json").read_text())
    config["rope_theta"] = 1234.0
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(commitment.CommitmentMismatch):
        commitment.verify(model_copy, registered)
    shutil.copy(tiny_dir / "config.json", model_copy / "config.json")
    assert commitment.verify(model_copy, registered) == registered
    shutil.copy(tiny_dir / "model.safetensors", model_copy / "model-extra.safetensors")
    with pytest.raises(commitment.CommitmentError, match="more than one file"):
        commitment.commit(model_copy)


def test_malformed_directories_get_precise_errors(tmp_path: Path) -> None:
    with pytest.raises(commitment.CommitmentError, match="not a directory"):
        commitment.commit(tmp_path / "missing")
    with pytest.raises(commitment.CommitmentError, match=r"no \*\.safetensors"):
        commitment.commit(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", 2) + b"[]")
    with pytest.raises(commitment.CommitmentError, match="not a JSON object"):
        commitment.commit(tmp_path)
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    (tmp_path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(commitment.CommitmentError, match="inconsistent data offsets"):
        commitment.commit(tmp_path)


def test_commit_cli_prints_the_root(tiny_dir: Path, tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ax0n_executor", "commit", str(tiny_dir)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0x" + commitment.commit(tiny_dir).hex()
    assert "hashing" in out.stderr  # the tqdm progress bar
    bad = subprocess.run(
        [sys.executable, "-m", "ax0n_executor", "commit", str(tmp_path)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "no *.safetensors" in bad.stderr
