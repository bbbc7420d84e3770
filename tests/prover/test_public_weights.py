"""The public-weight zk mode: one circuit and key per model, bit-exact with the integer model, and a verifier that
takes the key the model commitment names, so tampered proofs and proofs under another model's key fail."""

from __future__ import annotations

import random

import pytest
from ax0n_prover.core import ReceiptProver

from ax0n.spec import zkproof
from ax0n.spec.answers import RegisteredModel
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, public
from ax0n.zk.artifacts import Artifacts, ProofError
from ax0n.zk.mlp import QuantizedMLP, devnet_model
from ax0n.zk.models import Mode, ZkKeys, ZkModel
from tests.prover.helpers import executed

X = [(5 * i) % 23 - 11 for i in range(16)]


@pytest.fixture(scope="module")
def public_model() -> ZkModel:
    return ZkModel.load(devnet_model(), Mode.PUBLIC_WEIGHTS)


@pytest.fixture(scope="module")
def other_model() -> ZkModel:
    """Another model (other weights) in public-weight mode: its own circuit and key."""
    return ZkModel.load(QuantizedMLP.from_seed(b"ax0n/tests/other-model"), Mode.PUBLIC_WEIGHTS)


@pytest.fixture(scope="module")
def keys(public_model: ZkModel, other_model: ZkModel) -> ZkKeys:
    return ZkKeys(public_model.artifacts.path.parent)


def _proved(model: ZkModel, mlp: Artifacts, x: list[int] = X) -> types_pb2.ProvedReceipt:
    return ReceiptProver(mlp, {model.commitment_bytes(): model}).prove(executed(model, x))


def _registered(model: ZkModel) -> RegisteredModel:
    return RegisteredModel(model.commitment_bytes(), types_pb2.TIER_ZK, 1, zk_mode=model.mode, vk_hash=model.vk_hash)


def test_commitment_binds_weights_and_key(public_model: ZkModel, other_model: ZkModel) -> None:
    weights = public_model.weights.commitment_bytes()
    assert public_model.commitment_bytes() == public.commitment(weights, public_model.vk_hash)
    assert public_model.commitment_bytes() != weights  # not the private-weight mode's commitment
    assert public.commitment(weights, other_model.vk_hash) != public_model.commitment_bytes()
    assert public_model.artifacts.spec.name != other_model.artifacts.spec.name  # one circuit per model


def test_public_weight_proofs_match_the_integer_model(
    public_model: ZkModel, keys: ZkKeys, mlp_artifacts: Artifacts
) -> None:
    rng = random.Random(3)
    for x in (X, [-128] * 16, [127] * 16, [rng.randint(-128, 127) for _ in range(16)]):
        proved = _proved(public_model, mlp_artifacts, x)
        assert proved.proof.circuit_id == public_model.artifacts.spec.name
        assert zkproof.proof_fault(proved.receipt, proved.proof, keys, _registered(public_model)) is None
    # the circuit computes exactly the model: a wrong output has no witness
    inputs = public_model.circuit_inputs(X)
    with pytest.raises(ProofError):
        public_model.artifacts.prove({**inputs, "outputHash": int(inputs["outputHash"]) + 1})  # type: ignore[call-overload]


def test_tampered_public_weight_proof_is_rejected(
    public_model: ZkModel, keys: ZkKeys, mlp_artifacts: Artifacts
) -> None:
    proved = _proved(public_model, mlp_artifacts)
    for at in (0, 70, 200):
        bad = bytearray(proved.proof.envelope)
        bad[at] ^= 1
        proof = types_pb2.Proof(envelope=bytes(bad), circuit_id=proved.proof.circuit_id)
        assert zkproof.proof_fault(proved.receipt, proof, keys)
    wrong_output = types_pb2.Receipt()
    wrong_output.CopyFrom(proved.receipt)
    wrong_output.output_hash = (int.from_bytes(proved.receipt.output_hash, "big") ^ 1).to_bytes(32, "big")
    assert "zk proof" in (zkproof.proof_fault(wrong_output, proved.proof, keys) or "")


def test_proof_under_another_models_key_is_rejected(
    public_model: ZkModel, other_model: ZkModel, keys: ZkKeys, mlp_artifacts: Artifacts
) -> None:
    honest = _proved(public_model, mlp_artifacts)
    # the other model's key, with this model's commitment as the (free) public input: a valid proof under that key
    inputs = {**other_model.circuit_inputs(X), "commitment": int.from_bytes(public_model.commitment_bytes(), "big")}
    inputs["outputHash"] = other_model.weights.circuit_inputs(X)["outputHash"]
    forged = other_model.artifacts.prove(inputs)
    as_other = types_pb2.Receipt()
    as_other.CopyFrom(honest.receipt)
    as_other.output_hash = int(inputs["outputHash"]).to_bytes(32, "big")  # type: ignore[call-overload]
    for circuit in (other_model.artifacts.spec.name, public_model.artifacts.spec.name):
        assert zkproof.proof_fault(as_other, types_pb2.Proof(envelope=forged, circuit_id=circuit), keys)
    # a private-weight proof offered for the public-weight model, and the public-weight proof for the private one
    private = ZkModel(devnet_model(), Mode.PRIVATE_WEIGHTS, mlp_artifacts)
    priv = _proved(private, mlp_artifacts)
    swapped = types_pb2.Receipt()
    swapped.CopyFrom(priv.receipt)
    swapped.model_commitment = public_model.commitment_bytes()
    assert zkproof.proof_fault(swapped, priv.proof, keys)
    swapped.model_commitment = private.commitment_bytes()
    assert zkproof.proof_fault(swapped, honest.proof, keys)
    assert zkproof.proof_fault(priv.receipt, priv.proof, keys, _registered(private)) is None


def test_registration_must_name_the_key(public_model: ZkModel, keys: ZkKeys, mlp_artifacts: Artifacts) -> None:
    proved = _proved(public_model, mlp_artifacts)
    registered = _registered(public_model)
    other_vk = RegisteredModel(registered.commitment, types_pb2.TIER_ZK, 1, zk_mode=1, vk_hash=b"\x01" * 32)
    assert "registration" in (zkproof.proof_fault(proved.receipt, proved.proof, keys, other_vk) or "")
    private_mode = RegisteredModel(registered.commitment, types_pb2.TIER_ZK, 1, zk_mode=0, vk_hash=public_model.vk_hash)
    assert "mode" in (zkproof.proof_fault(proved.receipt, proved.proof, keys, private_mode) or "")


def test_a_verifier_without_the_key_abstains(public_model: ZkModel, mlp_artifacts: Artifacts, tmp_path) -> None:  # type: ignore[no-untyped-def]
    proved = _proved(public_model, mlp_artifacts)
    with pytest.raises(zkproof.MissingKey):
        zkproof.proof_fault(proved.receipt, proved.proof, ZkKeys(tmp_path))


def test_linear_layers_cost_no_constraints(public_model: ZkModel, mlp_artifacts: Artifacts) -> None:
    """The public-weight circuit is smaller than the private-weight one by at least the weight range checks and
    the multiplications (832 weights: 8 bits each, plus one product each)."""
    assert public_model.artifacts.spec.circuit_hash() != artifacts.MLP.circuit_hash()
    sizes = [
        len(a.witness(i))
        for a, i in (
            (mlp_artifacts, devnet_model().circuit_inputs(X)),
            (public_model.artifacts, public_model.circuit_inputs(X)),
        )
    ]
    assert sizes[0] - sizes[1] > 832 * 9
