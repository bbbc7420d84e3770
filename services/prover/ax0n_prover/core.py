"""The proving core, independent of transport: what the prover does with one executed receipt or one batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ax0n.v1 import types_pb2
from ax0n.zk import batch
from ax0n.zk.artifacts import Artifacts, ProofError
from ax0n.zk.mlp import Prediction, QuantizedMLP, input_hash, output_hash, parse_features
from ax0n.zk.poseidon import to_bytes32


class ProvingFailure(ValueError):
    """The receipt cannot be proven (its claims are wrong or its model is unknown); never retried."""


def _public(words: Sequence[int]) -> list[bytes]:
    return [w.to_bytes(32, "big") for w in words]


class ReceiptProver:
    """Proves zk-tier receipts against the reference models it holds (keyed by Poseidon commitment)."""

    def __init__(self, mlp: Artifacts, models: Mapping[bytes, QuantizedMLP]) -> None:
        self.mlp = mlp
        self.models = dict(models)

    def prove(self, executed: types_pb2.ExecutedReceipt) -> types_pb2.ProvedReceipt:
        """zk tier: re-run the model, check the receipt's hashes, prove; LLM tier: forward unchanged."""
        receipt = executed.receipt
        proved = types_pb2.ProvedReceipt(receipt=receipt, request=executed.request, output=executed.output)
        if receipt.tier != types_pb2.TIER_ZK:
            return proved  # LLM tier: the evidence is the fingerprint, checked by the validators
        model = self.models.get(receipt.model_commitment)
        if model is None:
            raise ProvingFailure(f"no zk-tier model with commitment {receipt.model_commitment.hex()}")
        try:
            x = parse_features(executed.request.prompt)
            claimed = Prediction.from_json(executed.output)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProvingFailure(f"malformed zk-tier input or output: {exc}") from exc
        prediction = model.forward(x)
        if prediction != claimed:
            raise ProvingFailure("the receipt's output is not what the committed model computes")
        if receipt.input_hash != to_bytes32(input_hash(x)) or receipt.output_hash != to_bytes32(
            output_hash(prediction)
        ):
            raise ProvingFailure("receipt input/output hashes do not match the request and output")
        inputs = model.circuit_inputs(x, prediction)
        try:
            envelope = self.mlp.prove(inputs)
        except ProofError as exc:
            raise ProvingFailure(str(exc)) from exc
        proved.proof.CopyFrom(
            types_pb2.Proof(
                envelope=envelope, circuit_id=self.mlp.spec.name, public_inputs=_public(self.mlp.public_inputs(inputs))
            )
        )
        return proved


def prove_batch(art: Artifacts, batch_id: int, leaves: Sequence[batch.Leaf], size: int) -> types_pb2.Proof:
    """The settlement proof for `leaves` (padded to the circuit's `size`)."""
    stmt = batch.statement(batch_id, leaves, size)
    try:
        envelope = art.prove(batch.circuit_inputs(leaves, size, stmt))
    except ProofError as exc:
        raise ProvingFailure(str(exc)) from exc
    return types_pb2.Proof(envelope=envelope, circuit_id=art.spec.name, public_inputs=_public(stmt.public_inputs()))
