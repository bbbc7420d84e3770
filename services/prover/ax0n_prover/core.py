"""The proving core, independent of transport: what the prover does with one executed receipt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ax0n.spec import answers, binding
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n.zk.artifacts import Artifacts, ProofError
from ax0n.zk.mlp import Prediction, QuantizedMLP, parse_features
from ax0n.zk.models import Mode, ZkModel

WRONG_OUTPUT = "the receipt's output is not what the committed model computes"


class ProvingFailure(ValueError):
    """The receipt cannot be proven (its claims are wrong or its model is unknown); never retried."""


class OutputFault(ProvingFailure):
    """A node signed a zk-tier receipt whose output hash the committed model does not compute on its input.

    `record` is the evidence for Settlement.challengeZkOutput: the signed receipt, a proof of the true output
    for the receipt's model commitment and input hash, and that true output hash."""

    def __init__(self, record: types_pb2.FaultRecord) -> None:
        super().__init__(record.reason)
        self.record = record


def _public(words: Sequence[int]) -> list[bytes]:
    return [w.to_bytes(32, "big") for w in words]


class ReceiptProver:
    """Proves zk-tier receipts against the reference models it holds, keyed by model commitment: a ZkModel in
    either mode, or bare weights (private-weight mode, proven with the shared `mlp` artifacts)."""

    def __init__(self, mlp: Artifacts, models: Mapping[bytes, QuantizedMLP | ZkModel]) -> None:
        self.mlp = mlp
        self.models = {
            c: m if isinstance(m, ZkModel) else ZkModel(m, Mode.PRIVATE_WEIGHTS, mlp) for c, m in models.items()
        }

    def prove(self, executed: types_pb2.ExecutedReceipt) -> types_pb2.ProvedReceipt:
        """zk tier: re-run the model, check the receipt's hashes, prove; LLM tier: forward unchanged.

        Raises OutputFault (with a counter-proof) when the receipt's node signed a wrong output hash, and
        ProvingFailure for anything else that cannot be proven (unknown model, malformed or unsigned claims)."""
        receipt = executed.receipt
        proved = types_pb2.ProvedReceipt(receipt=receipt, request=executed.request, output=executed.output)
        if why := answers.consistency_fault(receipt, executed.request):  # never prove for a request nobody signed
            raise ProvingFailure(why)
        if receipt.tier != types_pb2.TIER_ZK:
            return proved  # LLM tier: the evidence is the fingerprint, checked by the validators
        model = self.models.get(receipt.model_commitment)
        if model is None:
            raise ProvingFailure(f"no zk-tier model with commitment {receipt.model_commitment.hex()}")
        try:
            x = parse_features(executed.request.prompt)
            prediction = model.forward(x)
        except (ValueError, TypeError) as exc:
            raise ProvingFailure(f"malformed zk-tier input: {exc}") from exc
        if receipt.input_hash != binding.zk_input_hash(executed.request.prompt):
            raise ProvingFailure("receipt input hash does not match the request")
        inputs = model.circuit_inputs(x, prediction)
        if receipt.output_hash != binding.zk_output_hash(prediction.to_json()):
            raise self._fault(model, receipt, inputs, prediction)
        try:
            claimed = Prediction.from_json(executed.output)
        except (ValueError, KeyError, TypeError) as exc:
            raise ProvingFailure(f"malformed zk-tier output: {exc}") from exc
        if prediction != claimed:
            raise ProvingFailure(WRONG_OUTPUT)
        proved.proof.CopyFrom(self._proof(model, inputs))
        return proved

    def _fault(
        self, model: ZkModel, receipt: types_pb2.Receipt, inputs: dict[str, object], truth: Prediction
    ) -> ProvingFailure:
        """OutputFault with a proof of the true output when `receipt` carries its node's signature; otherwise
        a plain ProvingFailure: an unsigned claim binds nobody and is no evidence."""
        try:
            receipts.verify(receipt)
        except ValueError as exc:  # InvalidSignature, or fields a receipt cannot have (nothing to hash)
            return ProvingFailure(f"{WRONG_OUTPUT}, and it is not signed by its node ({exc}): no fault evidence")
        return OutputFault(
            types_pb2.FaultRecord(
                receipt=receipt,
                reason=f"zk output: {WRONG_OUTPUT} (node 0x{bytes(receipt.node_id).hex()} signed it)",
                counter_proof=self._proof(model, inputs),
                true_output_hash=binding.zk_output_hash(truth.to_json()),
            )
        )

    @staticmethod
    def _proof(model: ZkModel, inputs: dict[str, object]) -> types_pb2.Proof:
        art = model.artifacts
        try:
            envelope = art.prove(inputs)
        except ProofError as exc:
            raise ProvingFailure(str(exc)) from exc
        return types_pb2.Proof(
            envelope=envelope, circuit_id=art.spec.name, public_inputs=_public(art.public_inputs(inputs))
        )
