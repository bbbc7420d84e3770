"""The zk tier's public-weight mode: the weights are circuit constants, one circuit and verifying key per model.

The linear layers then cost no constraints: only requantization, argmax and the input/output hashes remain.
The model commitment binds what a verifier needs: sha256 over a domain tag, the weights' Poseidon commitment
(the private-weight mode's commitment) and the verifying key's hash, reduced into the field. The circuit leaves
its `commitment` input free, so a verifier must take the key that commitment names (ax0n.zk.models.ZkKeys,
ModelRegistry.zkVerifierOf on chain); a proof under any other model's key then fails.
"""

from __future__ import annotations

import hashlib

from ax0n.zk.artifacts import CircuitSpec
from ax0n.zk.mlp import ACT_MAX, QuantizedMLP
from ax0n.zk.poseidon import to_bytes32, to_field

TAG = b"ax0n/zk/mlp/public-weights/v1"


def accumulator_bits(model: QuantizedMLP) -> tuple[int, int]:
    """The least (ACC1, ACC2) with every layer-1 and layer-2 accumulator of `model` inside (-2^(b-1), 2^(b-1))
    over all int8 inputs; ACC1 leaves room for the requantization's 7 output bits above the shift."""
    layer1 = max(abs(b) + 128 * sum(map(abs, row)) for row, b in zip(model.w1, model.b1, strict=True))
    layer2 = max(abs(b) + ACT_MAX * sum(map(abs, row)) for row, b in zip(model.w2, model.b2, strict=True))
    return max(layer1.bit_length() + 1, model.shift + 8), layer2.bit_length() + 1


def _array(values: object) -> str:
    return str(values).replace("(", "[").replace(")", "]").replace(",]", "]")


def spec(model: QuantizedMLP) -> CircuitSpec:
    """The public-weight circuit of `model`: its weights written into the main as circom functions."""
    acc1, acc2 = accumulator_bits(model)
    prelude = "".join(
        f"function {name}() {{ return {_array(value)}; }}\n"
        for name, value in (("W1", model.w1), ("B1", model.b1), ("W2", model.w2), ("B2", model.b2))
    )
    weights = model.commitment_bytes().hex()
    return CircuitSpec(
        name=f"mlp-pub-{weights[:16]}",
        source="mlp_public.circom",
        template="PublicWeightMLP",
        args=f"{model.shape.circom_args()}, {acc1}, {acc2}",
        public=("commitment", "inputHash", "outputHash"),
        contract=f"MlpPub{weights[:8]}Verifier",
        prelude=prelude,
        weights_commitment=weights,
    )


def commitment(weights_commitment: bytes, vk_hash: bytes) -> bytes:
    """The public-weight model commitment (32 bytes, a field element): binds the weights and the verifying key."""
    digest = hashlib.sha256(TAG + weights_commitment + vk_hash).digest()
    return to_bytes32(to_field(int.from_bytes(digest, "big")))
