"""zk-tier models in either mode, and the verifying keys a verifier picks by model commitment.

- private weights (ModelRegistry.ZkMode.PrivateWeights): one circuit for every model of the shape; the weights
  are witness and the public `commitment` is their Poseidon commitment, which the circuit recomputes.
- public weights (PublicWeights): one circuit and key per model with the weights as constants
  (ax0n.zk.public); the commitment binds the weights and that key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ax0n.zk import artifacts, public
from ax0n.zk.artifacts import Artifacts
from ax0n.zk.mlp import Prediction, QuantizedMLP


class Mode(IntEnum):
    """ModelRegistry.ZkMode."""

    PRIVATE_WEIGHTS = 0
    PUBLIC_WEIGHTS = 1


MODE_NAMES = {"private": Mode.PRIVATE_WEIGHTS, "public": Mode.PUBLIC_WEIGHTS}


@dataclass(frozen=True)
class ZkModel:
    """A zk-tier model in one mode with the artifacts that prove it."""

    weights: QuantizedMLP
    mode: Mode
    artifacts: Artifacts

    @classmethod
    def load(
        cls, weights: QuantizedMLP, mode: Mode = Mode.PRIVATE_WEIGHTS, *, build: bool = True, root: Path | None = None
    ) -> ZkModel:
        spec = artifacts.MLP if mode is Mode.PRIVATE_WEIGHTS else public.spec(weights)
        return cls(weights, mode, artifacts.load(spec, build=build, root=root))

    @property
    def vk_hash(self) -> bytes:
        return self.artifacts.vk_hash

    def commitment_bytes(self) -> bytes:
        """The model commitment receipts carry and ModelRegistry records (the proof's public `commitment`)."""
        if self.mode is Mode.PRIVATE_WEIGHTS:
            return self.weights.commitment_bytes()
        return public.commitment(self.weights.commitment_bytes(), self.vk_hash)

    def forward(self, x: Sequence[int]) -> Prediction:
        return self.weights.forward(x)

    def check_input(self, x: Sequence[int]) -> None:
        self.weights.check_input(x)

    def parameter_count(self) -> int:
        return self.weights.parameter_count()

    def circuit_inputs(self, x: Sequence[int], prediction: Prediction | None = None) -> dict[str, object]:
        """The witness input of this mode's circuit."""
        full = self.weights.circuit_inputs(x, prediction)
        if self.mode is Mode.PRIVATE_WEIGHTS:
            return full
        commitment = int.from_bytes(self.commitment_bytes(), "big")
        return {
            "commitment": commitment,
            "inputHash": full["inputHash"],
            "outputHash": full["outputHash"],
            "x": full["x"],
        }


class ZkKeys:
    """The verifying keys in an artifacts directory, by the model commitment they verify.

    A public-weight key verifies exactly the commitment it binds; every other commitment is a private-weight
    model's and goes to the shared MLP key. Keys are read, never built: a verifier's own setup would not match
    the provers'."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or artifacts.cache_dir()
        self._public: dict[bytes, Artifacts] = {}
        self._private: Artifacts | None = None
        self.refresh()

    def refresh(self) -> None:
        """Index the public-weight keys present now (a key added later is found after a refresh)."""
        for meta_path in sorted(self.root.glob("mlp-pub-*/meta.json")):
            meta = json.loads(meta_path.read_text())
            weights = bytes.fromhex(meta["weights_commitment"])
            commitment = public.commitment(weights, bytes.fromhex(meta["vk_hash"]))
            if commitment not in self._public:
                spec = artifacts.CircuitSpec(
                    meta["circuit"], "mlp_public.circom", "PublicWeightMLP", "", tuple(meta["public"]), ""
                )
                self._public[commitment] = Artifacts(spec, meta_path.parent, meta)

    def private(self) -> Artifacts:
        """The shared private-weight MLP key; FileNotFoundError when this directory lacks it."""
        if self._private is None:
            self._private = artifacts.load(artifacts.MLP, build=False, root=self.root)
        return self._private

    def for_commitment(self, commitment: bytes) -> tuple[Mode, Artifacts]:
        """The mode and key that verify proofs for model `commitment`; FileNotFoundError when missing here."""
        if commitment not in self._public:
            self.refresh()
        if commitment in self._public:
            return Mode.PUBLIC_WEIGHTS, self._public[commitment]
        return Mode.PRIVATE_WEIGHTS, self.private()
