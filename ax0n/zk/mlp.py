"""The zk-tier reference model: a quantized two-layer MLP classifier, bit-exact with ax0n/zk/circuits/mlp.circom.

Integers only (no floats, no PyTorch), so the executor serving it and the circuit proving it agree exactly:
    h      = clamp((b1 + W1 x) >> shift, 0, 127)      (arithmetic shift: floor division by 2^shift)
    logits = b2 + W2 h
    label  = index of the first maximum of logits
x and weights are int8, biases int16. The commitment is the circuit's Poseidon hash of the packed weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ax0n.zk.poseidon import MAX_ARITY, pack_signed, poseidon, to_bytes32, to_field, vector_hash

INT8 = (-128, 127)
INT16 = (-(1 << 15), (1 << 15) - 1)
ACT_MAX = 127


@dataclass(frozen=True, slots=True)
class MLPShape:
    """Dimensions fixed at circuit compile time (`QuantizedMLP(IN, HID, OUT, SHIFT)`)."""

    inputs: int = 16
    hidden: int = 32
    outputs: int = 10
    shift: int = 8

    def circom_args(self) -> str:
        return f"{self.inputs}, {self.hidden}, {self.outputs}, {self.shift}"


DEFAULT_SHAPE = MLPShape()


@dataclass(frozen=True, slots=True)
class Prediction:
    label: int
    logits: tuple[int, ...]

    def values(self) -> list[int]:
        """The output vector the circuit hashes: (label, logits...)."""
        return [self.label, *self.logits]

    def to_json(self) -> str:
        """Canonical text form served as the inference output."""
        return json.dumps({"label": self.label, "logits": list(self.logits)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Prediction:
        data = json.loads(text)
        return cls(int(data["label"]), tuple(int(v) for v in data["logits"]))


def _check_range(values: Sequence[int], bounds: tuple[int, int], what: str) -> None:
    lo, hi = bounds
    for v in values:
        if not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"{what}: {v!r} is outside [{lo}, {hi}]")


def _floor_shift(value: int, shift: int) -> int:
    return value >> shift  # Python's >> on negative ints is floor division, as the circuit computes


@dataclass(frozen=True, slots=True)
class QuantizedMLP:
    """Weights of the zk-tier MLP: w1[hidden][inputs], b1[hidden], w2[outputs][hidden], b2[outputs]."""

    w1: tuple[tuple[int, ...], ...]
    b1: tuple[int, ...]
    w2: tuple[tuple[int, ...], ...]
    b2: tuple[int, ...]
    shift: int = DEFAULT_SHAPE.shift

    def __post_init__(self) -> None:
        shape = self.shape
        if shape.inputs > 16 or shape.hidden > 32:
            raise ValueError("accumulator bounds in the circuit assume inputs <= 16 and hidden <= 32")
        if len(self.b1) != shape.hidden or len(self.b2) != shape.outputs or len(self.w2[0]) != shape.hidden:
            raise ValueError("inconsistent layer sizes")
        if any(len(r) != shape.inputs for r in self.w1) or any(len(r) != shape.hidden for r in self.w2):
            raise ValueError("ragged weight matrix")
        _check_range([v for r in self.w1 for v in r], INT8, "w1")
        _check_range([v for r in self.w2 for v in r], INT8, "w2")
        _check_range(self.b1, INT16, "b1")
        _check_range(self.b2, INT16, "b2")

    @property
    def shape(self) -> MLPShape:
        return MLPShape(len(self.w1[0]), len(self.w1), len(self.w2), self.shift)

    def parameter_count(self) -> int:
        """Weights and biases, as registered in ModelRegistry."""
        return sum(map(len, self.w1)) + len(self.b1) + sum(map(len, self.w2)) + len(self.b2)

    def hidden(self, x: Sequence[int]) -> list[int]:
        return [
            min(max(_floor_shift(b + sum(w * xi for w, xi in zip(row, x, strict=True)), self.shift), 0), ACT_MAX)
            for row, b in zip(self.w1, self.b1, strict=True)
        ]

    def forward(self, x: Sequence[int]) -> Prediction:
        """Classify int8 features `x`."""
        self.check_input(x)
        h = self.hidden(x)
        logits = tuple(
            b + sum(w * hj for w, hj in zip(row, h, strict=True)) for row, b in zip(self.w2, self.b2, strict=True)
        )
        return Prediction(max(range(len(logits)), key=lambda k: (logits[k], -k)), logits)

    def check_input(self, x: Sequence[int]) -> None:
        if len(x) != self.shape.inputs:
            raise ValueError(f"expected {self.shape.inputs} features, got {len(x)}")
        _check_range(x, INT8, "input")

    def packed_weights(self) -> list[int]:
        """The field elements the commitment hashes, in circuit order."""
        return [
            *pack_signed([v for r in self.w1 for v in r], 8, 31),
            *pack_signed(self.b1, 16, 15),
            *pack_signed([v for r in self.w2 for v in r], 8, 31),
            *pack_signed(self.b2, 16, 15),
        ]

    def commitment(self) -> int:
        """Poseidon commitment of the weights: the circuit's public input `commitment`."""
        return vector_hash(self.packed_weights())

    def commitment_bytes(self) -> bytes:
        return to_bytes32(self.commitment())

    def circuit_inputs(self, x: Sequence[int], prediction: Prediction | None = None) -> dict[str, object]:
        """The full witness input for ax0n/zk/circuits/mlp.circom (public hashes included)."""
        prediction = prediction or self.forward(x)
        return {
            "commitment": self.commitment(),
            "inputHash": input_hash(x),
            "outputHash": output_hash(prediction),
            "x": [to_field(v) for v in x],
            "w1": [[to_field(v) for v in r] for r in self.w1],
            "b1": [to_field(v) for v in self.b1],
            "w2": [[to_field(v) for v in r] for r in self.w2],
            "b2": [to_field(v) for v in self.b2],
        }

    def to_json(self) -> str:
        return json.dumps({"shift": self.shift, "w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2})

    @classmethod
    def from_json(cls, text: str) -> QuantizedMLP:
        d = json.loads(text)
        return cls(
            w1=tuple(tuple(r) for r in d["w1"]),
            b1=tuple(d["b1"]),
            w2=tuple(tuple(r) for r in d["w2"]),
            b2=tuple(d["b2"]),
            shift=d["shift"],
        )

    @classmethod
    def load(cls, path: str | Path) -> QuantizedMLP:
        return cls.from_json(Path(path).read_text())

    @classmethod
    def from_seed(cls, seed: bytes, shape: MLPShape = DEFAULT_SHAPE, bias_bits: int = 12) -> QuantizedMLP:
        """Deterministic pseudo-random weights (SHA-256 counter stream): the devnet reference model."""
        stream = _byte_stream(seed)

        def int8s(n: int) -> tuple[int, ...]:
            return tuple(next(stream) - 128 for _ in range(n))

        def biases(n: int) -> tuple[int, ...]:
            span = 1 << bias_bits
            return tuple(((next(stream) << 8) | next(stream)) % (2 * span) - span for _ in range(n))

        return cls(
            w1=tuple(int8s(shape.inputs) for _ in range(shape.hidden)),
            b1=biases(shape.hidden),
            w2=tuple(int8s(shape.hidden) for _ in range(shape.outputs)),
            b2=biases(shape.outputs),
            shift=shape.shift,
        )


def _byte_stream(seed: bytes):  # type: ignore[no-untyped-def]
    counter = 0
    while True:
        yield from hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1


def input_hash(x: Sequence[int]) -> int:
    """The circuit's public `inputHash` of int8 features (`FeatureHash`): Poseidon(len, features packed 31 per
    element), one small Poseidon where a per-feature hash would take two wide ones."""
    if not 1 <= len(x) <= 31 * (MAX_ARITY - 1):
        raise ValueError(f"the input hash takes 1..{31 * (MAX_ARITY - 1)} features, got {len(x)}")
    return poseidon([len(x), *pack_signed(list(x), 8, 31)])


def output_hash(prediction: Prediction) -> int:
    """The circuit's public `outputHash` of (label, logits...)."""
    return vector_hash([to_field(v) for v in prediction.values()])


def parse_features(prompt: str) -> list[int]:
    """The zk-tier prompt format: a JSON array of int8 features."""
    values = json.loads(prompt)
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError("a zk-tier prompt is a JSON array of integers")
    _check_range(values, INT8, "input")
    return values


DEVNET_MODEL_SEED = b"ax0n/zk/mlp/devnet/v1"


def devnet_model() -> QuantizedMLP:
    """The devnet's zk-tier reference model."""
    return QuantizedMLP.from_seed(DEVNET_MODEL_SEED)
