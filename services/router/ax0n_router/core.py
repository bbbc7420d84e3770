"""The router's request flow, shared by the gRPC and HTTP front ends: admit → route → append → wait.

Time bounds: the executor's last token must arrive within `max_latency_ms` of admission, and the
quorum certificate (`ax0n:final`) by the signed deadline; past either the caller gets DEADLINE_EXCEEDED.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ax0n.mempool import Mempool
from ax0n.v1 import router_pb2, types_pb2
from ax0n_router import errors, mesh
from ax0n_router.admission import Admission


def result_of(final: types_pb2.FinalizedReceipt) -> types_pb2.InferenceResult:
    return types_pb2.InferenceResult(
        request_id=final.receipt.request_id,
        output=final.output,
        receipt=final.receipt,
        proof=final.proof,
        certificate=final.certificate,
    )


MAX_PICKUP_S = 5.0  # longest wait for an executor to read a request before re-routing it
PICKUP_POLL_S = 0.01


@dataclass
class Submission:
    decision: types_pb2.RouteDecision  # where the request is now (changes when re-routed)
    entry_id: str  # its entry in the cluster stream
    final: asyncio.Future[types_pb2.FinalizedReceipt]
    accepted: float  # time.monotonic() at admission


class RouterCore:
    def __init__(
        self, admission: Admission, pool: Mempool, finals: mesh.FinalWatcher, *, max_concurrent: int = 64
    ) -> None:
        self.admission, self.pool, self.finals = admission, pool, finals
        # admissions in flight at once (each holds a Redis connection for its escrow transaction)
        self._admitting = asyncio.Semaphore(max_concurrent)

    async def submit(self, req: types_pb2.InferenceRequest) -> Submission:
        """Admit and append; returns the route, a future for the final result, and the admission time."""
        async with self._admitting:
            decision = await self.admission.check(req)
            accepted = time.monotonic()
            rid = bytes(req.request_id)
            final = self.finals.expect(rid)  # before the append, so a fast result is not missed
            try:
                entry_id = await self.admission.commit(req, decision)
            except BaseException:
                self.finals.forget(rid, final)
                raise
        return Submission(decision, entry_id, final, accepted)

    async def await_pickup(self, req: types_pb2.InferenceRequest, sub: Submission) -> None:
        """Re-route (attempt + 1) while no executor of the chosen cluster reads the request in time.

        Each cluster gets a quarter of max_latency_ms (at most MAX_PICKUP_S); when no other cluster
        serves the model, the request stays where it is and the max-latency bound applies.
        """
        wait_s = min(req.max_latency_ms / 4_000, MAX_PICKUP_S)
        while True:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                if await self.admission.picked_up(sub.decision.cluster_id, sub.entry_id):
                    return
                await asyncio.sleep(PICKUP_POLL_S)
            moved = await self.admission.reroute(req, sub.decision, sub.entry_id)
            if moved is None:
                return
            sub.decision, sub.entry_id = moved

    async def follow(self, req: types_pb2.InferenceRequest, sub: Submission) -> AsyncIterator[router_pb2.StreamChunk]:
        """Token chunks of a submitted request as they arrive, then one chunk carrying the final result."""
        rid, final, accepted = bytes(req.request_id), sub.final, sub.accepted
        try:
            await self.await_pickup(req, sub)
            budget = req.max_latency_ms / 1_000 - (time.monotonic() - accepted)
            try:
                async for chunk in mesh.tokens(self.pool, rid, max(budget, 0.001)):
                    if chunk.done and (refused := errors.executor_refused(chunk.finish_reason)):
                        await self.admission.release_escrow(req)  # no receipt will ever charge it
                        raise refused
                    yield router_pb2.StreamChunk(chunk=chunk)
            except TimeoutError:
                raise errors.timed_out(f"no complete output within max_latency_ms={req.max_latency_ms}") from None
            try:
                async with asyncio.timeout(max(req.deadline - time.time(), 0.001)):
                    done = await final
            except TimeoutError:
                raise errors.timed_out(
                    f"output produced but no quorum certificate by the deadline {req.deadline}; "
                    f"fetch it later with GetResult(0x{rid.hex()})"
                ) from None
            yield router_pb2.StreamChunk(result=result_of(done))
        finally:
            self.finals.forget(rid, final)

    async def stream(self, req: types_pb2.InferenceRequest) -> AsyncIterator[router_pb2.StreamChunk]:
        sub = await self.submit(req)
        async for item in self.follow(req, sub):
            yield item

    async def infer(self, req: types_pb2.InferenceRequest) -> types_pb2.InferenceResult:
        result = None
        async for item in self.stream(req):
            if item.HasField("result"):
                result = item.result
        assert result is not None
        return result

    async def get_result(self, request_id: bytes, wait_s: float) -> types_pb2.InferenceResult:
        fut = self.finals.expect(request_id)
        try:
            async with asyncio.timeout(wait_s if wait_s > 0 else 0.001):
                return result_of(await fut)
        except TimeoutError:
            if wait_s > 0:
                raise errors.timed_out(f"no final result for 0x{request_id.hex()} within {wait_s}s") from None
            raise errors.not_found(f"no final result for 0x{request_id.hex()} seen by this router") from None
        finally:
            self.finals.forget(request_id, fut)
