"""The stream consumer against a real redis-server: tokens streamed, receipt published with the ack."""

from __future__ import annotations

import asyncio
import uuid

from ax0n_executor.executor import Executor
from ax0n_executor.worker import StreamWorker, local

from ax0n.llm.verify import verify
from ax0n.mempool import Mempool
from ax0n.mempool.streams import EXECUTED, EXECUTOR_GROUP, requests_stream, tokens_stream
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from tests.executor.conftest import make_request


async def _messages(pool: Mempool, stream: str, kind: type) -> list:
    return [kind.FromString(f[b"data"]) for _, f in await pool.redis.xrange(stream)]


async def test_requests_flow_through_the_stream(redis_url: str, executor: Executor) -> None:
    pool = Mempool.from_url(redis_url)
    cluster = f"test-{uuid.uuid4().hex[:8]}"
    worker = StreamWorker(local(executor), pool, cluster, "replica-0")
    good = make_request("Through the stream", max_tokens=36, nonce=900)
    bad = make_request("", nonce=901)
    entry_ids = [await pool.publish(requests_stream(cluster), r, key=r.request_id.hex()) for r in (good, bad)]
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(1200):
            executed = await _messages(pool, EXECUTED, types_pb2.ExecutedReceipt)
            mine = [e for e in executed if e.request.request_id == good.request_id]
            if mine and (await pool.redis.xpending(requests_stream(cluster), EXECUTOR_GROUP))["pending"] == 0:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no receipt published")
    finally:
        worker.stop()
        await task
    (done,) = mine
    assert done.request_entry_id == entry_ids[0]  # where the request sat: the start of its latency sample
    receipts.verify(done.receipt)
    assert verify(executor.engines["tiny"], good, done.receipt, done.output).valid
    chunks = await _messages(pool, tokens_stream(good.request_id), types_pb2.TokenChunk)
    assert [c.index for c in chunks] == list(range(len(chunks))) and chunks[-1].done
    assert chunks[-1].finish_reason == "length"
    assert "".join(c.delta for c in chunks) == done.output
    assert sum(len(c.token_ids) for c in chunks) == len(done.receipt.output_token_ids)
    (refused,) = await _messages(pool, tokens_stream(bad.request_id), types_pb2.TokenChunk)
    assert refused.done and refused.finish_reason == "error: INVALID_ARGUMENT: prompt is empty"
    assert not [
        e for e in await _messages(pool, EXECUTED, types_pb2.ExecutedReceipt) if e.request.request_id == bad.request_id
    ]
    await pool.close()
