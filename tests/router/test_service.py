"""The router end to end over a real redis-server: gRPC, the OpenAI HTTP API (official client), rejections."""

from __future__ import annotations

import time

import grpc
import openai
import pytest
from ax0n_router.admission import reservations_key

from ax0n.mempool import Mempool
from ax0n.mempool.streams import requests_stream
from ax0n.spec.routing import build_index, route
from ax0n.v1 import router_pb2, router_pb2_grpc, types_pb2
from tests.router.conftest import (
    API_KEY,
    MAX_BACKLOG,
    POOR_KEY,
    PRICE,
    RouterUnderTest,
    expected_words,
    extension,
    make_request,
    openai_body,
)


async def grpc_infer(router: RouterUnderTest, req: types_pb2.InferenceRequest) -> types_pb2.InferenceResult:
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        return await router_pb2_grpc.RouterStub(channel).Infer(req, timeout=30)


async def test_grpc_infer_routes_and_returns_the_final_result(router: RouterUnderTest) -> None:
    req = make_request()
    result = await grpc_infer(router, req)
    assert result.output == " ".join(expected_words(req))
    assert result.request_id == req.request_id
    expected = route(build_index(router.core.admission.registry.snapshot()), req.request_id, "smollm2")
    assert result.receipt.route.cluster_id == expected.cluster
    assert result.receipt.route.node_id == expected.node_id
    assert result.receipt.route.snapshot_block == 1_600
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        again = await stub.GetResult(router_pb2.GetResultRequest(request_id=req.request_id), timeout=10)
        assert again == result
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetResult(router_pb2.GetResultRequest(request_id=b"\x00" * 32), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_grpc_stream_yields_tokens_then_the_result(router: RouterUnderTest) -> None:
    req = make_request()
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        items = [item async for item in router_pb2_grpc.RouterStub(channel).Stream(req, timeout=30)]
    assert [i.chunk.delta for i in items[:-1]] == ["THE", " QUICK", " BROWN", " FOX"]
    assert items[-1].result.output == "THE QUICK BROWN FOX"


async def test_openai_client_completes_and_streams(router: RouterUnderTest) -> None:
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key=API_KEY, max_retries=0)
    models = await client.models.list()
    assert [m.id for m in models.data] == ["smollm2", "busy-model", "flaky-model"]

    chat = await client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "hello mesh world"}], max_tokens=8
    )
    assert chat.choices[0].message.content == "HELLO MESH WORLD"
    assert chat.choices[0].finish_reason == "stop"
    evidence = chat.model_extra["ax0n"]
    assert evidence["receipt"]["requestId"] and evidence["route"]["clusterId"] in ("alpha", "beta")

    stream = await client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "stream these four words"}], max_tokens=8, stream=True
    )
    deltas, last = [], None
    async for chunk in stream:
        last = chunk
        if chunk.choices and chunk.choices[0].delta.content:
            deltas.append(chunk.choices[0].delta.content)
    assert "".join(deltas) == "STREAM THESE FOUR WORDS"
    assert last is not None and last.choices[0].finish_reason == "stop" and "receipt" in last.model_extra["ax0n"]

    text = await client.completions.create(model="smollm2", prompt="plain completion", max_tokens=4)
    assert text.choices[0].text == "PLAIN COMPLETION"


async def test_openai_client_with_a_client_signature(router: RouterUnderTest) -> None:
    """No API key: the client signs the request its OpenAI body describes and sends the ax0n extension."""
    req = make_request(messages=[types_pb2.ChatMessage(role="user", content="signed by me")])
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    chat = await client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "signed by me"}],
        max_tokens=req.max_tokens,
        extra_body={"ax0n": extension(req)},
    )
    assert chat.choices[0].message.content == "SIGNED BY ME"
    assert chat.model_extra["ax0n"]["request_id"] == req.request_id.hex()


def _bad_signature() -> types_pb2.InferenceRequest:
    req = make_request()
    req.signature = make_request(POOR_KEY, nonce=req.nonce, deadline=req.deadline).signature
    return req


CASES = {
    "signature": (_bad_signature, grpc.StatusCode.UNAUTHENTICATED, 401, "signature"),
    "deadline passed": (
        lambda: make_request(deadline=int(time.time()) - 1),
        grpc.StatusCode.FAILED_PRECONDITION,
        400,
        "has passed",
    ),
    "unknown model": (lambda: make_request(model_id="nope"), grpc.StatusCode.NOT_FOUND, 404, "not registered"),
    "inactive model": (lambda: make_request(model_id="retired"), grpc.StatusCode.NOT_FOUND, 404, "not active"),
    "max tokens": (lambda: make_request(max_tokens=100_000), grpc.StatusCode.INVALID_ARGUMENT, 400, "max_tokens"),
    "prompt size": (
        lambda: make_request(messages=[types_pb2.ChatMessage(role="user", content="x" * 300_000)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        400,
        "prompt is",
    ),
    "fee cap below base fee": (
        lambda: make_request(fee_cap=str(PRICE * 8 // 1000 - 1)),
        grpc.StatusCode.FAILED_PRECONDITION,
        402,
        "base fee",
    ),
    "escrow short": (lambda: make_request(POOR_KEY), grpc.StatusCode.FAILED_PRECONDITION, 402, "escrow"),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_rejection_grpc_status_and_http_code(router: RouterUnderTest, case: str) -> None:
    build, code, http, words = CASES[case]
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await router_pb2_grpc.RouterStub(channel).Infer(build(), timeout=30)
    assert err.value.code() == code
    assert words in err.value.details()

    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    body = openai_body(build())
    with pytest.raises(openai.APIStatusError) as http_err:
        await client.post("/chat/completions", body=body, cast_to=object)
    assert http_err.value.status_code == http
    assert words in http_err.value.message


async def test_nonce_replay_is_already_exists_409(router: RouterUnderTest) -> None:
    req = make_request()
    await grpc_infer(router, req)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await grpc_infer(router, req)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    same_nonce = make_request(nonce=req.nonce, max_tokens=4)  # new content, reused nonce
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await grpc_infer(router, same_nonce)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "nonce" in err.value.details()
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as http_err:
        await client.post("/chat/completions", body=openai_body(req), cast_to=object)
    assert http_err.value.status_code == 409


async def test_backlog_bound_is_resource_exhausted_429_with_retry_after(router: RouterUnderTest) -> None:
    pool: Mempool = router.pool
    for i in range(MAX_BACKLOG):  # nobody consumes the busy cluster
        await pool.publish(requests_stream("busy"), types_pb2.InferenceRequest(model_id="busy-model"), key=f"fill{i}")
    req = make_request(model_id="busy-model")
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await router_pb2_grpc.RouterStub(channel).Infer(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert dict(err.value.trailing_metadata())["retry-after"] == "1"
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.RateLimitError) as http_err:
        await client.post("/chat/completions", body=openai_body(req), cast_to=object)
    assert http_err.value.status_code == 429
    assert http_err.value.response.headers["retry-after"] == "1"
    # refused requests consumed nothing: the same signed request is admitted once the backlog drains
    await pool.redis.delete(requests_stream("busy"))
    decision = await router.core.admission.check(req)
    assert decision.cluster_id == "busy"
    await router.core.admission.commit(req, decision)
    assert await pool.redis.xlen(requests_stream("busy")) == 1


async def test_no_output_within_max_latency_is_deadline_exceeded_504(router: RouterUnderTest) -> None:
    req = make_request(model_id="busy-model", max_latency_ms=300)  # the busy cluster has no executor
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await grpc_infer(router, req)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as http_err:
        await client.post(
            "/chat/completions",
            body=openai_body(make_request(model_id="busy-model", max_latency_ms=300)),
            cast_to=object,
        )
    assert http_err.value.status_code == 504


async def test_executor_refusal_reaches_the_client_with_its_status(router: RouterUnderTest) -> None:
    refused = make_request(prompt="refuse this one")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await grpc_infer(router, refused)
    assert err.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "does not fit the context" in (err.value.details() or "")
    reserved = await router.pool.redis.hkeys(reservations_key(bytes(refused.client)))
    assert bytes(refused.request_id) not in reserved  # its fee-cap reservation is released at once
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.APIStatusError) as http_err:
        await client.post(
            "/chat/completions",
            body=openai_body(make_request(messages=[types_pb2.ChatMessage(role="user", content="refuse again")])),
            cast_to=object,
        )
    assert http_err.value.status_code == 400
    assert "does not fit the context" in str(http_err.value)


async def test_missing_credentials_is_401(router: RouterUnderTest) -> None:
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "hi"}])


async def test_route_rpc_matches_the_pure_function(router: RouterUnderTest) -> None:
    index = build_index(router.core.admission.registry.snapshot())
    async with grpc.aio.insecure_channel(router.grpc_target) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        for i in range(20):
            rid = i.to_bytes(32, "big")
            got = await stub.Route(router_pb2.RouteRequest(request_id=rid, model_id="smollm2"))
            want = route(index, rid, "smollm2")
            assert (got.cluster_id, got.node_id) == (want.cluster, want.node_id)
        models = await stub.ListModels(router_pb2.ListModelsRequest())
        assert {m.model_id for m in models.models} == {"smollm2", "busy-model", "flaky-model", "retired"}


async def test_request_nobody_picks_up_is_rerouted_to_the_next_cluster(router: RouterUnderTest) -> None:
    index = build_index(router.core.admission.registry.snapshot())
    req = make_request(model_id="flaky-model", max_latency_ms=2_000)
    while route(index, req.request_id, "flaky-model").cluster != "gone":
        req = make_request(model_id="flaky-model", max_latency_ms=2_000)
    result = await grpc_infer(router, req)
    assert result.output == " ".join(expected_words(req))
    assert result.receipt.route.attempt == 1
    second = route(index, req.request_id, "flaky-model", attempt=1)
    assert (result.receipt.route.cluster_id, result.receipt.route.node_id) == ("alpha", second.node_id)
    assert await router.pool.redis.xlen(requests_stream("gone")) == 0  # withdrawn, not duplicated
