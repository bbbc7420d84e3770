"""Ray Serve: a real local Ray cluster (2 CPUs), one deployment for the tiny model, fed from the stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ax0n.llm.engine import Engine
from ax0n.mempool import Mempool
from ax0n.mempool.streams import EXECUTED, requests_stream, tokens_stream
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY, make_request

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def handle(tiny_dir: Path, tiny: Engine) -> Iterator[object]:
    ray = pytest.importorskip("ray")
    from ax0n_executor.serving import application
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield serve.run(application("tiny", str(tiny_dir), tiny.commitment, NODE_KEY), name="tiny", route_prefix=None)
    finally:
        serve.shutdown()
        ray.shutdown()


async def test_serve_batches_executes_and_verifies(handle, tiny: Engine, redis_url: str) -> None:
    from ax0n_executor.worker import StreamWorker, via_serve

    reqs = [make_request(f"Served request {i}", max_tokens=33, nonce=700 + i) for i in range(4)]
    outcomes = await asyncio.gather(*(handle.execute.remote(r.SerializeToString()) for r in reqs))
    for req, (receipt_bytes, output, code, _) in zip(reqs, outcomes, strict=True):
        assert not code
        receipt = types_pb2.Receipt.FromString(receipt_bytes)
        receipts.verify(receipt)
        assert receipt.reference.batch_size >= 1
        check = await handle.reexecute.remote(req.SerializeToString(), receipt_bytes, output)
        assert check["valid"], check
    bad = await handle.execute.remote(make_request("", nonce=799).SerializeToString())
    assert bad[2] == "INVALID_ARGUMENT" and bad[3] == "prompt is empty"

    pool = Mempool.from_url(redis_url)
    cluster = f"serve-{uuid.uuid4().hex[:8]}"
    worker = StreamWorker(via_serve({"tiny": handle}), pool, cluster, "serve-0")
    req = make_request("Through Serve and the stream", max_tokens=33, nonce=800)
    await pool.publish(requests_stream(cluster), req, key=req.request_id.hex())
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(1200):
            rows = await pool.redis.xrange(EXECUTED)
            done = [types_pb2.ExecutedReceipt.FromString(f[b"data"]) for _, f in rows]
            done = [d for d in done if d.request.request_id == req.request_id]
            if done:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no receipt from the Serve path")
    finally:
        worker.stop()
        await task
    chunks = [
        types_pb2.TokenChunk.FromString(f[b"data"]) for _, f in await pool.redis.xrange(tokens_stream(req.request_id))
    ]
    assert chunks[-1].done and "".join(c.delta for c in chunks) == done[0].output
    await pool.close()


async def test_service_component_runs_on_serve(handle, tiny_dir: Path, tiny: Engine, redis_url: str) -> None:
    """`ax0n-executor --serve`: the service's worker component starts Serve deployments and feeds them."""
    from ax0n_executor.server import ExecutorSettings, WorkerComponent, load

    cluster = f"svc-{uuid.uuid4().hex[:8]}"
    settings = ExecutorSettings(
        models=f"tiny={tiny_dir}@0x{tiny.commitment.hex()}",
        node_key=NODE_KEY,
        cluster=cluster,
        redis_url=redis_url,
        serve=True,
        instance="svc-0",
    )
    component = WorkerComponent(load(settings), settings)
    await component.start()
    pool = Mempool.from_url(redis_url)
    req = make_request("Service on Serve", max_tokens=33, nonce=850)
    unknown = make_request("Nobody serves this", model_id="other", nonce=851)
    try:
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
    (chunk,) = [types_pb2.TokenChunk.FromString(f[b"data"]) for _, f in refused]
    assert chunk.finish_reason.startswith("error: NOT_FOUND: model 'other' is not served here")
    await pool.close()
