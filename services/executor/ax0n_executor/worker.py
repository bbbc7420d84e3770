"""The stream consumer: requests from `ax0n:req:{cluster}` in, receipts to `ax0n:exec`, tokens to `ax0n:tok:{id}`.

Text deltas are published as they are generated (`TokenChunk`, numbered by `index`). The receipt and the
final `done` chunk are the handler's outputs, which the mempool commits atomically with the
acknowledgement: a replica that dies before that leaves the entry pending, another replica reclaims and
executes it, and the done-marker makes the effect happen once. A request the executor refuses gets a
final chunk whose `finish_reason` is `error: CODE: message`, and is acknowledged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from ax0n.llm.engine import OnText
from ax0n.llm.errors import ExecutorError
from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.mempool.streams import EXECUTED, EXECUTOR_GROUP, requests_stream, tokens_stream
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n_executor.executor import Executor
from ax0n_executor.replica import Done, Text

Run = Callable[[types_pb2.InferenceRequest, OnText], Awaitable[tuple[types_pb2.Receipt, str]]]


def local(executor: Executor) -> Run:
    """Execute in this process (a worker thread), streaming text as it is generated."""

    async def run(req: types_pb2.InferenceRequest, on_text: OnText) -> tuple[types_pb2.Receipt, str]:
        return await asyncio.to_thread(executor.execute, req, on_text)

    return run


def via_serve(handles: dict[str, Any], fallback: Run) -> Run:
    """Execute on Ray Serve deployments (`serving.ModelServer`, one per model id), streaming each text delta
    as the replica produces it; other models (the zk tier, unknown ids) go to `fallback`."""

    async def run(req: types_pb2.InferenceRequest, on_text: OnText) -> tuple[types_pb2.Receipt, str]:
        handle = handles.get(req.model_id)
        if handle is None:
            return await fallback(req, on_text)
        async for event in handle.options(stream=True).stream.remote(req.SerializeToString()):
            if isinstance(event, Text):
                on_text(0, event.delta, event.token_ids)
            elif isinstance(event, Done):
                if event.code:
                    raise _refusal(grpc.StatusCode[event.code], event.message)
                return types_pb2.Receipt.FromString(event.receipt), event.output
        raise _refusal(grpc.StatusCode.UNAVAILABLE, f"the Serve deployment of {req.model_id!r} ended without a receipt")

    return run


def _refusal(code: grpc.StatusCode, message: str) -> ExecutorError:
    err = ExecutorError(message)
    err.code = code
    return err


class StreamWorker:
    """Feeds one cluster's request stream through an executor (`local(...)` or `via_serve(...)`)."""

    def __init__(self, run: Run, pool: Mempool, cluster_id: str, name: str) -> None:
        self.run_request, self.pool = run, pool
        self.in_flight = 0  # requests being executed now (reported, unscored, in heartbeats)
        self.consumer = Consumer(
            pool, requests_stream(cluster_id), EXECUTOR_GROUP, name, types_pb2.InferenceRequest, self.handle
        )

    async def run(self) -> None:
        await self.consumer.run()

    def stop(self) -> None:
        self.consumer.stop()

    async def handle(self, entry: Entry[types_pb2.InferenceRequest]) -> list[Outbound]:
        req = entry.message
        rid = bytes(req.request_id)
        stream, key = tokens_stream(rid), rid.hex()
        loop = asyncio.get_running_loop()
        sent: list[concurrent.futures.Future[str]] = []
        index = 0

        def on_text(_row: int, delta: str, token_ids: list[int]) -> None:
            nonlocal index
            chunk = types_pb2.TokenChunk(request_id=rid, index=index, delta=delta, token_ids=token_ids)
            index += 1
            sent.append(asyncio.run_coroutine_threadsafe(self.pool.publish(stream, chunk, key=key), loop))

        self.in_flight += 1
        try:
            receipt, output = await self.run_request(req, on_text)
        except ExecutorError as exc:
            done = types_pb2.TokenChunk(
                request_id=rid, index=0, done=True, finish_reason=f"error: {exc.code.name}: {exc}"
            )
            return [Outbound(stream, done, key)]
        finally:
            self.in_flight -= 1
        await asyncio.gather(*(asyncio.wrap_future(f) for f in sent))
        finish = "length" if receipt.timings.output_tokens >= req.max_tokens else "stop"
        done = types_pb2.TokenChunk(request_id=rid, index=index, done=True, finish_reason=finish)
        executed = types_pb2.ExecutedReceipt(receipt=receipt, request=req, output=output, request_entry_id=entry.id)
        # keyed by the receipt's hash: a retried publish of this receipt is handled once downstream, but a
        # second, different receipt for the request (an equivocation) is not hidden from the validators
        receipt_key = receipts.receipt_hash(receipt).hex()
        return [Outbound(EXECUTED, executed, receipt_key), Outbound(stream, done, key)]
