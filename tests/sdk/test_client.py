"""The Python SDK against the real router process (gRPC) over a real redis-server, with verify=True."""

from __future__ import annotations

import grpc
import pytest
from ax0n_tools.devnet.redis import RedisServer
from ax0n_tools.devnet.services import ServiceProcess

from ax0n.sdk import (
    AsyncAx0nClient,
    AuthenticationError,
    Ax0nClient,
    Ax0nTimeoutError,
    InvalidRequestError,
    NotFoundError,
    PreconditionError,
    ReplayError,
    Verifier,
)
from ax0n.sdk.errors import from_rpc_error
from ax0n.v1 import router_pb2_grpc, types_pb2
from ax0n.zk import mlp
from tests.sdk.conftest import Mesh
from tests.sdk.mesh import CHAIN_ID, CLIENT_KEY, LLM_MODEL, PARAMS, POOR_KEY, ZK_MODEL, validator_sets

FEATURES = "[3, -7, 12, 0, 5, 9, -1, 4, 8, -12, 6, 2, 0, 1, -3, 7]"


def verifier() -> Verifier:
    return Verifier(validator_sets=validator_sets, params=PARAMS)


def sync_client(mesh: Mesh, key: str = CLIENT_KEY) -> Ax0nClient:
    return Ax0nClient(mesh.target, private_key=key, chain_id=CHAIN_ID, verify=True, verifier=verifier())


def async_client(mesh: Mesh, key: str = CLIENT_KEY) -> AsyncAx0nClient:
    return AsyncAx0nClient(mesh.target, private_key=key, chain_id=CHAIN_ID, verify=True, verifier=verifier())


def test_sync_infer_llm_tier_verified(mesh: Mesh) -> None:
    with sync_client(mesh) as client:
        assert [m.model_id for m in client.models()] == [LLM_MODEL, ZK_MODEL]
        result = client.infer(model=LLM_MODEL, prompt="hello mesh world", max_tokens=8)
    assert result.output == "HELLO MESH WORLD"
    assert result.request_id == result.receipt.request_id == result.request.request_id
    assert isinstance(result.proof, types_pb2.Fingerprint) and result.proof.chunks
    assert result.certificate is not None and result.certificate.verdict == types_pb2.VERDICT_VALID
    assert result.tx_hash is None  # not settled
    assert result.verification is not None
    assert result.verification.checked == ("request", "model", "receipt", "io", "fingerprint", "certificate")
    assert "settlement: not settled yet" in result.verification.unchecked


def test_sync_stream_chat_messages(mesh: Mesh) -> None:
    with sync_client(mesh) as client:
        stream = client.stream(model=LLM_MODEL, messages=[{"role": "user", "content": "stream four words please"}])
        deltas = [chunk.delta for chunk in stream]
    assert deltas == ["STREAM", " FOUR", " WORDS", " PLEASE"]
    assert stream.result is not None and stream.result.output == "STREAM FOUR WORDS PLEASE"
    assert stream.result.verification is not None


async def test_async_infer_zk_tier_proof_verifies(mesh: Mesh) -> None:
    async with async_client(mesh) as client:
        result = await client.infer(model=ZK_MODEL, prompt=FEATURES, max_tokens=1)
    expected = mlp.devnet_model().forward(mlp.parse_features(FEATURES))
    assert result.output == expected.to_json()
    assert isinstance(result.proof, bytes) and len(result.proof) == 288
    assert result.verification is not None and "proof" in result.verification.checked


async def test_async_stream_yields_chunks_then_verified_result(mesh: Mesh) -> None:
    async with async_client(mesh) as client:
        stream = client.stream(model=LLM_MODEL, prompt="one two three", max_tokens=8)
        chunks = [chunk async for chunk in stream]
    assert [c.delta for c in chunks] == ["ONE", " TWO", " THREE"]
    assert chunks[-1].done and chunks[-1].finish_reason == "stop"
    assert stream.result is not None and stream.result.verification is not None


async def test_wait_for_settlement_times_out_while_unsettled(mesh: Mesh) -> None:
    async with async_client(mesh) as client:
        with pytest.raises(Ax0nTimeoutError, match=r"not settled within 1\.0s"):
            await client.infer(model=LLM_MODEL, prompt="settle me", max_tokens=4, wait_for_settlement=1.0)


async def test_router_rejections_are_typed_with_the_router_message(mesh: Mesh) -> None:
    async with async_client(mesh) as client:
        with pytest.raises(NotFoundError, match="not registered"):
            await client.infer(model="nope", prompt="x", fee_cap=10**18)
        with pytest.raises(InvalidRequestError, match="max_tokens"):
            await client.infer(model=LLM_MODEL, prompt="x", max_tokens=100_000)
        with pytest.raises(PreconditionError, match="base fee"):
            await client.infer(model=LLM_MODEL, prompt="x", fee_cap=1)
        with pytest.raises(PreconditionError, match="has passed"):
            await client.infer(model=LLM_MODEL, prompt="x", deadline_s=-5)
        req = await client.sign(LLM_MODEL, "replayed", max_tokens=4)
        await client.infer(model=LLM_MODEL, prompt="first", max_tokens=4, nonce=req.nonce)
        with pytest.raises(ReplayError, match="nonce"):
            await client.infer(model=LLM_MODEL, prompt="second", max_tokens=4, nonce=req.nonce)
        with pytest.raises(NotFoundError, match="no final result"):
            await client.get_result(req)
        tampered = await client.sign(LLM_MODEL, "tampered", max_tokens=4)
        tampered.max_tokens = 5  # the signature no longer covers the request
        async with grpc.aio.insecure_channel(mesh.target) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await router_pb2_grpc.RouterStub(channel).Infer(tampered, timeout=30)
        mapped = from_rpc_error(err.value)
        assert isinstance(mapped, AuthenticationError) and "signature" in mapped.message
    async with async_client(mesh, POOR_KEY) as poor:
        with pytest.raises(PreconditionError, match="escrow") as err_info:
            await poor.infer(model=LLM_MODEL, prompt="x", max_tokens=4)
        assert err_info.value.code == "FAILED_PRECONDITION"


async def test_trace_continues_from_the_sdk_through_the_router(mesh: Mesh, spans) -> None:
    async with async_client(mesh) as client:
        result = await client.infer(model=LLM_MODEL, prompt="trace me", max_tokens=4, verify=False)
    finished = spans.get_finished_spans()
    sdk = next(s for s in finished if s.name == "ax0n.sdk infer")
    rpc = next(s for s in finished if s.name == "/ax0n.v1.Router/Infer")
    assert rpc.parent is not None and rpc.parent.span_id == sdk.context.span_id
    assert rpc.context.trace_id == sdk.context.trace_id
    # the router process appended the request with the same trace in its traceparent
    traceparent = mesh.standin.carriers[result.request_id]["traceparent"]
    assert traceparent.split("-")[1] == f"{sdk.context.trace_id:032x}"


async def test_settlement_is_read_from_the_settler(mesh: Mesh, redis_server: RedisServer) -> None:
    """A real ax0n-settler without a chain takes receipts in and settles nothing: no transaction, so the wait ends."""
    settler = ServiceProcess("settler", redis_server.url).start()
    try:
        async with AsyncAx0nClient(mesh.target, private_key=CLIENT_KEY, chain_id=CHAIN_ID, settler=settler.target) as c:
            result = await c.infer(model=LLM_MODEL, prompt="settle via the settler", max_tokens=4)
            found = await c.settlement(result.request_id)
            assert found is None or not found.tx_hash
            with pytest.raises(Ax0nTimeoutError, match="not settled"):
                await c.wait_for_settlement(result, 1.0)
    finally:
        settler.terminate()
