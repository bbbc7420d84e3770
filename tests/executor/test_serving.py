"""Ray Serve: a real local Ray (2 CPUs), one deployment of the tiny model, streamed, batched, fed from the stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ax0n_executor.replica import Done, ServeConfig, ServedModel, Text

from ax0n.llm import verify
from ax0n.llm.engine import Engine
from ax0n.mempool import Mempool
from ax0n.mempool.streams import EXECUTED, requests_stream, tokens_stream
from ax0n.spec import answers, fees
from ax0n.spec import receipt as receipts
from ax0n.spec.params import MAINNET
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY, make_request

pytestmark = pytest.mark.timeout(600)
PRICE = 1000


@pytest.fixture(scope="module")
def handle(tiny_dir: Path, tiny: Engine) -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    from ax0n_executor.serving import application
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    model = ServedModel("tiny", str(tiny_dir), tiny.commitment, price=PRICE)
    app = application(model, NODE_KEY, ServeConfig(max_batch_size=4, batch_wait_ms=200))
    try:
        yield serve.run(app, name="tiny", route_prefix=None)
    finally:
        serve.shutdown()
        ray.shutdown()


async def collect(handle: Any, req: types_pb2.InferenceRequest) -> list[tuple[float, Text | Done]]:
    """Every event of one streamed request, with its arrival time."""
    return [
        (time.perf_counter(), e)
        async for e in handle.options(stream=True).stream.remote(req.SerializeToString())
        if e is not None
    ]


async def test_batched_stream_signs_verifiable_receipts_and_refuses_alone(handle: Any, tiny: Engine) -> None:
    reqs = [make_request(f"Served request {i}", max_tokens=33, nonce=700 + i) for i in range(3)]
    bad = make_request("", nonce=799)
    *streams, refused = await asyncio.gather(*(collect(handle, r) for r in [*reqs, bad]))
    sizes = []
    for req, events in zip(reqs, streams, strict=True):
        *texts, (_, done) = events
        assert isinstance(done, Done) and not done.code, done
        receipt = types_pb2.Receipt.FromString(done.receipt)
        receipts.verify(receipt)
        assert "".join(t.delta for _, t in texts) == done.output
        assert [i for _, t in texts for i in t.token_ids] == list(receipt.output_token_ids)
        assert receipt.fee == str(fees.charge(PRICE, answers.billed_tokens(receipt), int(req.fee_cap), MAINNET))
        assert verify.verify(tiny, req, receipt, done.output).valid
        sizes.append(receipt.reference.batch_size)
    assert max(sizes) >= 2, f"concurrent requests were not batched: {sizes}"
    ((_, only),) = refused
    assert only == Done(code="INVALID_ARGUMENT", message="prompt is empty")


async def test_first_delta_arrives_while_generating(handle: Any) -> None:
    req = make_request("Stream me a long answer", max_tokens=120, nonce=900)
    events = await collect(handle, req)
    texts = [(t, e) for t, e in events if isinstance(e, Text)]
    end, done = events[-1]
    receipt = types_pb2.Receipt.FromString(done.receipt)
    generation_s = (receipt.timings.total_ms - receipt.timings.first_token_ms) / 1000
    assert sum(len(e.token_ids) for _, e in texts) == receipt.timings.output_tokens and len(texts) > 10
    # buffered to the end, every delta would arrive with the receipt; streamed, the first one arrives about as
    # long before the end as the generation ran
    assert end - texts[0][0] >= 0.5 * generation_s > 0, (end - texts[0][0], generation_s)


async def test_service_front_holds_no_weights_and_streams_from_serve(
    handle: Any, tiny_dir: Path, tiny: Engine, redis_url: str
) -> None:
    """`ax0n-executor --serve`: the front loads no model, lists the replica's, and publishes its deltas."""
    from ax0n_executor.server import ExecutorServicer, ExecutorSettings, WorkerComponent, load

    cluster = f"svc-{uuid.uuid4().hex[:8]}"
    settings = ExecutorSettings(
        models=f"tiny={tiny_dir}@0x{tiny.commitment.hex()}",
        prices=f"tiny={PRICE}",
        node_key=NODE_KEY,
        cluster=cluster,
        redis_url=redis_url,
        serve=True,
        instance="svc-0",
    )
    executor = load(settings)
    assert executor.engines == {}
    component = WorkerComponent(executor, settings)
    await component.start()
    pool = Mempool.from_url(redis_url)
    req = make_request("Service on Serve", max_tokens=33, nonce=850)
    unknown = make_request("Nobody serves this", model_id="other", nonce=851)
    try:
        (info,) = (await ExecutorServicer(settings, executor, component).ServedModels(None, None)).models
        assert (info.model_id, info.commitment, info.price_per_1k_tokens) == ("tiny", tiny.commitment, str(PRICE))
        assert component.served() == ["tiny"]
        for r in (req, unknown):
            await pool.publish(requests_stream(cluster), r, key=r.request_id.hex())
        for _ in range(1200):
            rows = await pool.redis.xrange(EXECUTED)
            done = [types_pb2.ExecutedReceipt.FromString(f[b"data"]) for _, f in rows]
            done = [d for d in done if d.request.request_id == req.request_id]
            refused = await pool.redis.xrange(tokens_stream(unknown.request_id))
            if done and refused:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the service component did not execute the request")
    finally:
        await component.stop()
    receipts.verify(done[0].receipt)
    chunks = [
        types_pb2.TokenChunk.FromString(f[b"data"]) for _, f in await pool.redis.xrange(tokens_stream(req.request_id))
    ]
    assert len(chunks) > 2 and chunks[-1].done
    assert "".join(c.delta for c in chunks) == done[0].output
    (chunk,) = [types_pb2.TokenChunk.FromString(f[b"data"]) for _, f in refused]
    assert chunk.finish_reason.startswith("error: NOT_FOUND: model 'other' is not served here")
    await pool.close()
