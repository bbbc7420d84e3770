"""The executor's zk tier: ProofCore's MLP run bit-exactly, a signed receipt the prover accepts and proves."""

from __future__ import annotations

import pytest
from ax0n_executor.executor import Executor
from ax0n_executor.server import ExecutorSettings, load, parse_prices
from ax0n_prover.core import ReceiptProver

from ax0n.llm.errors import InvalidRequest
from ax0n.spec import fees
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, mlp
from ax0n.zk.poseidon import to_bytes32
from tests.executor.conftest import NODE_KEY, make_request

FEATURES = [3, 14, 15, 92, 65, 35, 89, 79, -32, -38, 46, 26, -43, 38, 32, 79]
PRICE = 2_000_000


@pytest.fixture(scope="module")
def executor() -> Executor:
    return Executor({}, NODE_KEY, prices={"mlp": PRICE}, zk_models={"mlp": mlp.devnet_model()})


def zk_request(prompt: str) -> types_pb2.InferenceRequest:
    req = make_request(prompt, model_id="mlp", max_tokens=1)
    req.route.CopyFrom(types_pb2.RouteDecision(cluster_id="c", node_id=b"\x07" * 32, snapshot_block=48))
    return req


def test_zk_receipt_commits_to_the_model_input_and_output(executor: Executor) -> None:
    model = mlp.devnet_model()
    streamed: list[str] = []
    req = zk_request(str(FEATURES))
    receipt, output = executor.execute(req, lambda _row, delta, _ids: streamed.append(delta))
    prediction = model.forward(FEATURES)
    assert output == prediction.to_json() and streamed == [output]
    assert receipt.tier == types_pb2.TIER_ZK and receipt.model_commitment == model.commitment_bytes()
    assert receipt.input_hash == to_bytes32(mlp.input_hash(FEATURES))
    assert receipt.output_hash == to_bytes32(mlp.output_hash(prediction))
    assert receipt.route.snapshot_block == 48 and receipt.route.cluster_id == "c"  # the route is signed too
    assert receipt.fee == str(fees.charge(PRICE, 1, int(req.fee_cap)))  # billed as one token, at least the floor
    receipts.verify(receipt)


def test_the_prover_accepts_and_proves_the_executors_receipt(executor: Executor) -> None:
    req = zk_request(str(FEATURES))
    receipt, output = executor.execute(req)
    art = artifacts.load(artifacts.MLP)
    executed = types_pb2.ExecutedReceipt(receipt=receipt, request=req, output=output)
    proved = ReceiptProver(art, {mlp.devnet_model().commitment_bytes(): mlp.devnet_model()}).prove(executed)
    verdict = art.verify(bytes(proved.proof.envelope), [int.from_bytes(w) for w in proved.proof.public_inputs])
    assert verdict.valid, verdict.reason


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        ("[1, 2, 3]", "expected 16 features"),
        ("[1000]", "input"),
        ("not json", "bad zk-tier input"),
        ("{}", "JSON array"),
    ],
)
def test_bad_features_are_invalid_argument_with_the_reason(executor: Executor, prompt: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match=why):
        executor.execute(zk_request(prompt))


def test_settings_parse_zk_models_and_prices() -> None:
    settings = ExecutorSettings(zk_models="mlp=devnet", prices="mlp=5,other=7", node_key=NODE_KEY)
    loaded = load(settings)
    assert loaded.served() == ["mlp"] and loaded.prices == {"mlp": 5, "other": 7}
    for bad in ("mlp", "mlp=abc", "=5"):
        with pytest.raises(ValueError, match="bad price entry"):
            parse_prices(bad)
    with pytest.raises(ValueError, match="bad zk model entry"):
        load(ExecutorSettings(zk_models="mlp"))
