"""Clients for the router's gRPC API: `AsyncAx0nClient` (asyncio) and `Ax0nClient` (blocking).

Each request is signed locally (EIP-712, `ax0n.spec.request`) with the client's key; the key never leaves the
process. Calls go through `ax0n.runtime.telemetry.channel`, so the caller's trace continues into the router.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from eth_account import Account
from opentelemetry import context as otel_context
from opentelemetry import trace

from ax0n.runtime import telemetry
from ax0n.sdk.errors import Ax0nError, Ax0nTimeoutError, NotFoundError, from_rpc_error
from ax0n.sdk.result import Chunk, InferenceResult
from ax0n.spec import fees
from ax0n.spec import request as signing
from ax0n.spec.answers import DEVNET, Deployment
from ax0n.v1 import router_pb2, router_pb2_grpc, settler_pb2, settler_pb2_grpc, types_pb2

if TYPE_CHECKING:  # verification needs the `verify` extra; it is imported when first used
    from ax0n.sdk.verify import Verifier

T = TypeVar("T")
Message = dict[str, str] | tuple[str, str] | types_pb2.ChatMessage
SETTLEMENT_POLL_S = 0.5
RPC_SLACK_S = 5.0  # the router answers DEADLINE_EXCEEDED itself at the signed deadline; allow it to


def _chat_message(m: Message) -> types_pb2.ChatMessage:
    if isinstance(m, types_pb2.ChatMessage):
        return m
    if isinstance(m, tuple):
        return types_pb2.ChatMessage(role=m[0], content=m[1])
    return types_pb2.ChatMessage(role=m["role"], content=m["content"])


@contextmanager
def _rpc_errors() -> Iterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err) from None


class ResultStream:
    """Async iterator of `Chunk`s; once exhausted, `result` holds the finalized (and verified) result."""

    def __init__(self, run: Callable[[ResultStream], AsyncIterator[Chunk]]) -> None:
        self.result: InferenceResult | None = None
        self._it = run(self)

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return self._it

    async def __anext__(self) -> Chunk:
        return await self._it.__anext__()


class AsyncAx0nClient:
    """An asyncio client of one router. `verify=True` checks every result's evidence with `verifier`. Requests are
    signed for the deployment at `settlement` (0x address; default: the devnet's) on `chain_id`. With `tls_ca_file`
    (a PEM CA bundle, e.g. the Helm release's gRPC CA) the router and the settler are reached over TLS and must
    present certificates that chain to it; without it, in plaintext (the devnet)."""

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        *,
        private_key: str | bytes,
        chain_id: int = DEVNET.chain_id,
        settlement: str | None = None,
        max_latency_ms: int = 60_000,
        deadline_s: int = 300,
        verify: bool = False,
        verifier: Verifier | None = None,
        settler: str | None = None,
        tls_ca_file: str = "",
    ) -> None:
        self.target = target
        self._account = Account.from_key(private_key)
        self._key = private_key
        self.max_latency_ms, self.deadline_s = max_latency_ms, deadline_s
        self.deployment = Deployment.of(chain_id, settlement) if settlement else Deployment(chain_id, DEVNET.settlement)
        self.verify, self._verifier = verify, verifier
        self._channel = telemetry.channel(target, tls_ca_file)
        self._stub = router_pb2_grpc.RouterStub(self._channel)
        self._models: dict[str, types_pb2.ModelInfo] = {}
        self._settler_channel = telemetry.channel(settler, tls_ca_file) if settler else None
        self._settler = settler_pb2_grpc.SettlerStub(self._settler_channel) if self._settler_channel else None

    @property
    def chain_id(self) -> int:
        """The chain requests are signed for (the deployment's)."""
        return self.deployment.chain_id

    @property
    def verifier(self) -> Verifier:
        """The verifier of results (a default `Verifier()` unless one was given)."""
        if self._verifier is None:
            from ax0n.sdk.verify import Verifier

            self._verifier = Verifier()
        return self._verifier

    @property
    def address(self) -> str:
        """The client's checksummed address: the account whose escrow pays."""
        return str(self._account.address)

    async def close(self) -> None:
        await self._channel.close()
        if self._settler_channel is not None:
            await self._settler_channel.close()

    async def __aenter__(self) -> AsyncAx0nClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def models(self) -> list[types_pb2.ModelInfo]:
        """The registered models (the router's ListModels)."""
        with _rpc_errors():
            reply = await self._stub.ListModels(router_pb2.ListModelsRequest(), timeout=30)
        self._models = {m.model_id: m for m in reply.models}
        return list(reply.models)

    async def model(self, model_id: str) -> types_pb2.ModelInfo:
        if model_id not in self._models:
            await self.models()
        if model_id not in self._models:
            raise NotFoundError(f"model {model_id!r} is not registered", "NOT_FOUND")
        return self._models[model_id]

    async def sign(
        self,
        model: str,
        prompt: str = "",
        *,
        messages: Sequence[Message] = (),
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        stop: Sequence[str] = (),
        fee_cap: int | None = None,
        max_latency_ms: int | None = None,
        deadline_s: int | None = None,
        nonce: int | None = None,
    ) -> types_pb2.InferenceRequest:
        """The signed request; the fee cap defaults to the model's base fee for `max_tokens`."""
        req = types_pb2.InferenceRequest(
            model_id=model,
            prompt=prompt,
            messages=[_chat_message(m) for m in messages],
            max_tokens=max_tokens,
            max_latency_ms=max_latency_ms or self.max_latency_ms,
            nonce=secrets.randbits(63) if nonce is None else nonce,
            deadline=int(time.time()) + (deadline_s or self.deadline_s),
            chain_id=self.deployment.chain_id,
            settlement=self.deployment.settlement,
        )
        req.sampling.greedy = temperature == 0.0
        if not req.sampling.greedy:
            req.sampling.temperature, req.sampling.top_p, req.sampling.top_k = temperature, top_p, top_k
        req.sampling.stop.extend(stop)
        if fee_cap is None:
            fee_cap = fees.base_fee(fees.amount((await self.model(model)).price_per_1k_tokens, "price"), max_tokens)
        req.fee_cap = str(fee_cap)
        return signing.sign(req, self._key)

    def _timeout(self, req: types_pb2.InferenceRequest) -> float:
        return max(req.deadline - time.time(), 1.0) + RPC_SLACK_S

    async def _finish(
        self, req: types_pb2.InferenceRequest, raw: types_pb2.InferenceResult, verify: bool | None, wait: float | None
    ) -> InferenceResult:
        result = InferenceResult(req, raw)
        if wait:
            result = await self.wait_for_settlement(result, wait)
        if self.verify if verify is None else verify:
            result = await self.check(result)
        return result

    async def check(self, result: InferenceResult) -> InferenceResult:
        """`result` with its `verification`; raises VerificationError when any evidence does not verify."""
        model = await self.model(result.request.model_id)
        verification = await asyncio.to_thread(self.verifier.verify, result, model)
        return dataclasses.replace(result, verification=verification)

    async def infer(
        self,
        model: str,
        prompt: str = "",
        *,
        verify: bool | None = None,
        wait_for_settlement: float | None = None,
        **options: Any,
    ) -> InferenceResult:
        """Run one inference and return its finalized result (after the quorum certificate).

        `wait_for_settlement`: also wait up to that many seconds for the L1 settlement (`tx_hash`).
        `options` are `sign`'s: messages, max_tokens, temperature, top_p, top_k, stop, fee_cap, ...
        """
        req = await self.sign(model, prompt, **options)
        with telemetry.tracer().start_as_current_span("ax0n.sdk infer") as span:
            span.set_attribute("ax0n.request_id", bytes(req.request_id).hex())
            with _rpc_errors():
                raw = await self._stub.Infer(req, timeout=self._timeout(req))
        return await self._finish(req, raw, verify, wait_for_settlement)

    def stream(
        self,
        model: str,
        prompt: str = "",
        *,
        verify: bool | None = None,
        wait_for_settlement: float | None = None,
        **options: Any,
    ) -> ResultStream:
        """Stream an inference: `async for chunk in client.stream(...)`, then `.result` on the stream."""

        async def run(out: ResultStream) -> AsyncIterator[Chunk]:
            req = await self.sign(model, prompt, **options)
            span = telemetry.tracer().start_span("ax0n.sdk stream")
            span.set_attribute("ax0n.request_id", bytes(req.request_id).hex())
            try:
                with trace.use_span(span, end_on_exit=False):
                    call = self._stub.Stream(req, timeout=self._timeout(req))
                raw = None
                with _rpc_errors():
                    async for item in call:
                        if item.HasField("result"):
                            raw = item.result
                        else:
                            yield Chunk.of(item.chunk)
                if raw is None:
                    raise Ax0nError("the router closed the stream without a final result")
            finally:
                span.end()
            out.result = await self._finish(req, raw, verify, wait_for_settlement)

        return ResultStream(run)

    async def get_result(self, request: types_pb2.InferenceRequest, wait_s: float = 0.0) -> InferenceResult:
        """The final result of a request this client signed; wait up to `wait_s` for it (0: only if known)."""
        ask = router_pb2.GetResultRequest(request_id=request.request_id, wait=wait_s > 0)
        with _rpc_errors():
            raw = await self._stub.GetResult(ask, timeout=wait_s + RPC_SLACK_S if wait_s > 0 else 30)
        return InferenceResult(request, raw)

    async def settlement(self, request_id: bytes) -> types_pb2.Settlement | None:
        """The settler's record of where the request settled (None while it is in no batch); needs `settler=`."""
        if self._settler is None:
            raise Ax0nError("no settler target configured (AsyncAx0nClient(..., settler='host:port'))")
        try:
            with _rpc_errors():
                return await self._settler.GetSettlement(
                    settler_pb2.GetSettlementRequest(request_id=request_id), timeout=30
                )
        except NotFoundError:
            return None

    async def wait_for_settlement(self, result: InferenceResult, timeout_s: float) -> InferenceResult:
        """`result` with its L1 settlement once its batch is mined (from the settler when one is configured, else
        from the router's GetResult); Ax0nTimeoutError after `timeout_s`."""
        end = time.monotonic() + timeout_s
        while result.tx_hash is None:
            left = end - time.monotonic()
            if left <= 0:
                raise Ax0nTimeoutError(
                    f"request 0x{result.request_id.hex()} not settled within {timeout_s}s", "DEADLINE_EXCEEDED"
                )
            if self._settler is not None:
                found = await self.settlement(result.request_id)
                if found is not None and found.tx_hash:
                    raw = types_pb2.InferenceResult()
                    raw.CopyFrom(result.raw)
                    raw.settlement.CopyFrom(found)
                    result = dataclasses.replace(result, raw=raw)
            else:
                result = await self.get_result(result.request, wait_s=min(left, 10.0))
            if result.tx_hash is None:
                await asyncio.sleep(min(SETTLEMENT_POLL_S, max(end - time.monotonic(), 0)))
        return result


class _LoopThread:
    """A private event loop on a daemon thread: the blocking client runs its async twin there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ax0n-sdk", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        """Run `coro` on the loop and wait for it, in the caller's trace context."""
        ctx = otel_context.get_current()

        async def in_context() -> T:
            otel_context.attach(ctx)  # the task's own context copy: no detach needed
            return await coro

        return asyncio.run_coroutine_threadsafe(in_context(), self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncResultStream:
    """Iterator of `Chunk`s; once exhausted, `result` holds the finalized (and verified) result."""

    def __init__(self, loop: _LoopThread, inner: ResultStream) -> None:
        self._loop, self._inner = loop, inner

    @property
    def result(self) -> InferenceResult | None:
        return self._inner.result

    def __iter__(self) -> Iterator[Chunk]:
        return self

    def __next__(self) -> Chunk:
        try:
            return self._loop.run(self._inner.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None


class Ax0nClient:
    """The blocking client: the same API as `AsyncAx0nClient`, without `await`."""

    def __init__(self, target: str = "127.0.0.1:50051", **kwargs: Any) -> None:
        self._loop = _LoopThread()

        async def make() -> AsyncAx0nClient:
            return AsyncAx0nClient(target, **kwargs)

        self._async = self._loop.run(make())

    @property
    def address(self) -> str:
        return self._async.address

    @property
    def verifier(self) -> Verifier:
        return self._async.verifier

    def close(self) -> None:
        self._loop.run(self._async.close())
        self._loop.stop()

    def __enter__(self) -> Ax0nClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def models(self) -> list[types_pb2.ModelInfo]:
        return self._loop.run(self._async.models())

    def sign(self, model: str, prompt: str = "", **options: Any) -> types_pb2.InferenceRequest:
        return self._loop.run(self._async.sign(model, prompt, **options))

    def infer(self, model: str, prompt: str = "", **options: Any) -> InferenceResult:
        return self._loop.run(self._async.infer(model, prompt, **options))

    def stream(self, model: str, prompt: str = "", **options: Any) -> SyncResultStream:
        return SyncResultStream(self._loop, self._async.stream(model, prompt, **options))

    def check(self, result: InferenceResult) -> InferenceResult:
        return self._loop.run(self._async.check(result))

    def get_result(self, request: types_pb2.InferenceRequest, wait_s: float = 0.0) -> InferenceResult:
        return self._loop.run(self._async.get_result(request, wait_s))

    def settlement(self, request_id: bytes) -> types_pb2.Settlement | None:
        return self._loop.run(self._async.settlement(request_id))

    def wait_for_settlement(self, result: InferenceResult, timeout_s: float) -> InferenceResult:
        return self._loop.run(self._async.wait_for_settlement(result, timeout_s))
