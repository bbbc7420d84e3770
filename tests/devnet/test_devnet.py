"""The whole path on the one-machine devnet: redis-server, anvil with the contracts, and the five real services.

SDK → router → executor (SmolLM2-135M when `make setup` converted it, else the seeded tiny model; the zk MLP) →
prover (real Groth16) → validators (real BLS) → settler (real batch proof and submitBatch on anvil).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from ax0n_tools.devnet import control, demo
from ax0n_tools.devnet.network import DevnetState
from web3 import HTTPProvider, Web3

from ax0n.runtime import telemetry
from ax0n.sdk import Ax0nClient
from ax0n.v1 import types_pb2
from ax0n.zk import mlp
from tests.telemetry.receiver import Receiver

SETTLE_S = 120.0


@pytest.mark.parametrize("mode", ["private", "public"])
def test_zk_tier_infers_proves_certifies_and_settles(client: Ax0nClient, devnet: DevnetState, mode: str) -> None:
    """Both zk modes: the same weights as a private-weight model and as a public-weight one (its own key)."""
    model = devnet.zk_model if mode == "private" else devnet.zk_public_model
    result = client.infer(model=model, prompt=demo.ZK_FEATURES, max_tokens=1)
    features = json.loads(demo.ZK_FEATURES)
    assert result.output == mlp.devnet_model().forward(features).to_json()
    assert isinstance(result.proof, bytes) and len(result.proof) == 288
    public_circuit = result.raw.proof.circuit_id.startswith("mlp-pub-")
    assert public_circuit == (mode == "public")
    assert result.verification is not None and {"proof", "certificate"} <= set(result.verification.checked)
    assert result.certificate is not None and result.certificate.verdict == types_pb2.VERDICT_VALID
    settled = client.check(client.wait_for_settlement(result, SETTLE_S))
    assert settled.verification is not None and settled.verification.unchecked == ()
    receipt = Web3(HTTPProvider(devnet.rpc_url)).eth.get_transaction_receipt(settled.tx_hash)
    assert receipt["status"] == 1 and receipt["to"].lower() == devnet.settlement.lower()


def test_llm_tier_infers_certifies_and_settles(client: Ax0nClient, devnet: DevnetState) -> None:
    result = client.infer(
        model=devnet.llm_model, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8
    )
    assert result.output and result.receipt.tier == types_pb2.TIER_LLM
    assert isinstance(result.proof, types_pb2.Fingerprint) and len(result.proof.chunks) >= 1
    assert result.verification is not None and {"fingerprint", "certificate"} <= set(result.verification.checked)
    assert result.receipt.route.snapshot_block > 0  # routed on the provisioned snapshot, signed by the node
    settled = client.check(client.wait_for_settlement(result, SETTLE_S))
    assert settled.tx_hash and settled.verification is not None and "settlement" in settled.verification.checked
    # what the SDK leaves to the certificate, and says so: re-running the model is the validators' job
    assert settled.verification.unchecked == (
        "fingerprint re-execution: attested by the certificate, not re-run locally",
    )


def test_router_results_carry_the_settlement(devnet: DevnetState) -> None:
    with demo.client_for(devnet, settler=None) as routed_only:  # no settler address: the router's GetResult
        result = routed_only.infer(model=devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
        settled = routed_only.check(routed_only.wait_for_settlement(result, SETTLE_S))
    assert settled.tx_hash and settled.verification is not None and "settlement" in settled.verification.checked


@pytest.mark.parametrize("tier", ["llm", "zk"])
def test_stream_yields_deltas_then_a_verified_result(client: Ax0nClient, devnet: DevnetState, tier: str) -> None:
    if tier == "llm":
        stream = client.stream(
            model=devnet.llm_model, messages=[{"role": "user", "content": "Count to three."}], max_tokens=8
        )
    else:
        stream = client.stream(model=devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
    deltas = [chunk.delta for chunk in stream]
    assert stream.result is not None and stream.result.verification is not None
    assert "".join(deltas) == stream.result.output


def test_executor_refusal_is_a_precise_error(client: Ax0nClient, devnet: DevnetState) -> None:
    from ax0n.sdk import Ax0nError

    with pytest.raises(Ax0nError, match="expected 16 features") as err:
        client.infer(model=devnet.zk_model, prompt="[1, 2, 3]", max_tokens=1)
    assert err.value.code == "INVALID_ARGUMENT"


def test_one_trace_spans_sdk_router_executor_prover_validator_settler(
    client: Ax0nClient, devnet: DevnetState, collector: tuple[Receiver, str]
) -> None:
    receiver, _ = collector
    with telemetry.tracer().start_as_current_span("sdk: infer and settle") as span:
        result = client.infer(model=devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
        client.wait_for_settlement(result, SETTLE_S)
    trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
    want = {f"ax0n-{name}" for name in ("router", "executor", "prover", "validator", "settler")}
    deadline = time.monotonic() + 30  # services export in batches every few seconds
    while not want <= receiver.services_in_trace(trace_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert want <= receiver.services_in_trace(trace_id)


def test_devnet_up_status_down(tmp_path: Path) -> None:
    state = control.up(tmp_path)
    try:
        rows = {component: health for component, _, health in control.status(tmp_path)}
        assert {rows[f"ax0n-{name}"] for name in state.services} == {"SERVING"}
        with pytest.raises(SystemExit, match="already running"):
            control.up(tmp_path)
    finally:
        assert control.down(tmp_path) is True
    assert control.status(tmp_path) == [] and control.down(tmp_path) is False
