"""Model commitments: an RFC 9162 Merkle root (SHA-256) over a model directory's weight tensors.

A model is a directory in Hugging Face layout (``*.safetensors`` + config + tokenizer). Its commitment
is the root of a Merkle tree (RFC 9162 / Certificate Transparency: leaf ``SHA-256(0x00 ‖ entry)``, node
``SHA-256(0x01 ‖ left ‖ right)``, built with pymerkle) whose entries are, in this order:

1. one entry per tensor, sorted by the UTF-8 bytes of its name::

       b"T" ‖ u16 len(name) ‖ name ‖ u8 len(dtype) ‖ dtype ‖ u8 ndim ‖ u64 dim... ‖ SHA-256(data)

   where ``dtype`` is the safetensors code (``F32``, ``BF16``, ...) and ``data`` the tensor's bytes as
   safetensors stores them (little-endian, row-major: the format fixes both, so they are canonical);
2. one entry per present definition file in ``DEFINITION_FILES`` order::

       b"F" ‖ u16 len(filename) ‖ filename ‖ SHA-256(file bytes)

Integers are big-endian. The definition files (config, tokenizer, chat template) decide how the weights
are used, so they are committed too. Torch-free: validators and the CLI read the safetensors header
themselves (8-byte little-endian header length, then a JSON header, then the data).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pymerkle import InmemoryTree

HASH = "sha256"
DEFINITION_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)
DTYPE_SIZES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}
_MAX_HEADER = 100 * 1024 * 1024
_BLOCK = 8 * 1024 * 1024


class CommitmentError(ValueError):
    """The directory is not a committable model (missing or malformed safetensors)."""


class CommitmentMismatch(CommitmentError):
    """The directory's recomputed commitment differs from the registered one."""


@dataclass(frozen=True, slots=True)
class TensorSpan:
    """Where one tensor's bytes lie in a safetensors file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    file: Path
    start: int  # absolute byte offset in `file`
    end: int


def read_header(path: Path) -> list[TensorSpan]:
    """Parse a safetensors file's header into tensor spans, checking sizes and offsets."""
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise CommitmentError(f"{path.name}: too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER or 8 + n > size:
            raise CommitmentError(f"{path.name}: header length {n} is out of range")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommitmentError(f"{path.name}: header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise CommitmentError(f"{path.name}: header is not a JSON object")
    base = 8 + n
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
        except (KeyError, TypeError, ValueError) as exc:
            raise CommitmentError(f"{path.name}: malformed entry for tensor {name!r}") from exc
        if dtype not in DTYPE_SIZES:
            raise CommitmentError(f"{path.name}: tensor {name!r} has unknown dtype {dtype!r}")
        count = 1
        for dim in shape:
            count *= int(dim)
        if end - start != count * DTYPE_SIZES[dtype] or start < 0 or base + end > size:
            raise CommitmentError(f"{path.name}: tensor {name!r} has inconsistent data offsets")
        spans.append(TensorSpan(name, dtype, tuple(int(d) for d in shape), path, base + start, base + end))
    return spans


def tensor_spans(model_dir: Path) -> list[TensorSpan]:
    """All tensors of all ``*.safetensors`` files in `model_dir`, in canonical (name) order."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CommitmentError(f"{model_dir}: not a directory")
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise CommitmentError(f"{model_dir}: no *.safetensors weight files")
    by_name: dict[str, TensorSpan] = {}
    for file in files:
        for span in read_header(file):
            if span.name in by_name:
                raise CommitmentError(f"{model_dir}: tensor {span.name!r} appears in more than one file")
            by_name[span.name] = span
    return [by_name[k] for k in sorted(by_name, key=lambda s: s.encode())]


def _sha256_range(path: Path, start: int, end: int, progress: Callable[[int], object]) -> bytes:
    h = hashlib.sha256()
    if end > start:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            for pos in range(start, end, _BLOCK):
                stop = min(pos + _BLOCK, end)
                h.update(m[pos:stop])
                progress(stop - pos)
    return h.digest()


def _name(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise CommitmentError(f"name too long: {text[:40]!r}...")
    return struct.pack(">H", len(raw)) + raw


def tensor_entry(span: TensorSpan, digest: bytes) -> bytes:
    """The canonical Merkle entry for one tensor (see the module docstring)."""
    dtype = span.dtype.encode()
    dims = b"".join(struct.pack(">Q", d) for d in span.shape)
    return b"T" + _name(span.name) + bytes([len(dtype)]) + dtype + bytes([len(span.shape)]) + dims + digest


def file_entry(filename: str, digest: bytes) -> bytes:
    """The canonical Merkle entry for one definition file."""
    return b"F" + _name(filename) + digest


def committed_bytes(model_dir: Path) -> int:
    """Total bytes hashed by `commit` (for sizing a progress bar)."""
    model_dir = Path(model_dir)
    files = sum((model_dir / f).stat().st_size for f in DEFINITION_FILES if (model_dir / f).is_file())
    return files + sum(s.end - s.start for s in tensor_spans(model_dir))


def entries(model_dir: Path, progress: Callable[[int], object] = lambda n: None) -> Iterator[bytes]:
    """The Merkle entries of `model_dir`, in tree order; `progress(n)` is called per n bytes hashed."""
    model_dir = Path(model_dir)
    for span in tensor_spans(model_dir):
        yield tensor_entry(span, _sha256_range(span.file, span.start, span.end, progress))
    for filename in DEFINITION_FILES:
        path = model_dir / filename
        if path.is_file():
            yield file_entry(filename, _sha256_range(path, 0, path.stat().st_size, progress))


def merkle_root(leaf_entries: list[bytes]) -> bytes:
    """RFC 9162 Merkle tree hash (SHA-256) of `leaf_entries`."""
    if not leaf_entries:
        raise CommitmentError("a commitment needs at least one entry")
    tree = InmemoryTree(algorithm=HASH)
    tree.append_entries(leaf_entries)
    return bytes(tree.get_root())


def commit(model_dir: Path, progress: Callable[[int], object] = lambda n: None) -> bytes:
    """The 32-byte commitment of the model in `model_dir`."""
    return merkle_root(list(entries(model_dir, progress)))


def verify(model_dir: Path, expected: bytes, progress: Callable[[int], object] = lambda n: None) -> bytes:
    """Recompute the commitment of `model_dir`; raise CommitmentMismatch unless it equals `expected`."""
    actual = commit(model_dir, progress)
    if actual != bytes(expected):
        raise CommitmentMismatch(
            f"model directory {model_dir} has commitment 0x{actual.hex()}, "
            f"but 0x{bytes(expected).hex()} is registered: its weights or definition files changed"
        )
    return actual
