"""The prover core on real receipts: proves what the committed model computes, refuses anything else."""

import pytest
from ax0n_prover.core import ProvingFailure, ReceiptProver

from ax0n.zk.artifacts import Artifacts
from ax0n.zk.mlp import Prediction, QuantizedMLP
from tests.prover.helpers import executed, llm_executed


def test_zk_receipt_gets_a_valid_envelope(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    prover = ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model})
    proved = prover.prove(executed(model, list(range(-3, 13))))
    public = [int.from_bytes(w, "big") for w in proved.proof.public_inputs]
    assert public[0] == model.commitment()
    assert len(proved.proof.envelope) == 288
    assert mlp_artifacts.verify(proved.proof.envelope, public)


def test_llm_receipts_are_forwarded_unproven(mlp_artifacts: Artifacts) -> None:
    proved = ReceiptProver(mlp_artifacts, {}).prove(llm_executed("hi"))
    assert not proved.HasField("proof") and proved.output == "hi"


def test_receipts_for_requests_nobody_signed_are_refused(mlp_artifacts: Artifacts) -> None:
    forged = llm_executed()
    forged.request.ClearField("signature")
    with pytest.raises(ProvingFailure, match="request signature"):
        ReceiptProver(mlp_artifacts, {}).prove(forged)


def test_wrong_output_or_unknown_model_is_refused(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    prover = ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model})
    item = executed(model, [5] * 16)
    true = Prediction.from_json(item.output)
    item.output = Prediction((true.label + 1) % 10, true.logits).to_json()
    with pytest.raises(ProvingFailure):
        prover.prove(item)
    other = executed(QuantizedMLP.from_seed(b"unregistered"), [5] * 16)
    with pytest.raises(ProvingFailure, match="no zk-tier model"):
        prover.prove(other)
