"""Ray Serve: one deployment per served model, batched and streamed execution.

Replicas take `num_gpus` on GPU nodes and `num_cpus` (one thread each) on CPU, and scale between the
configured bounds on ongoing requests. A replica loads its committed model once (refused at start when the
commitment differs); the executor service in front holds no copy. Requests cross the handle as serialized
protobuf bytes and come back as a stream of `Event`s: text deltas as the batch generates them, then one
final event with the signed receipt or a refusal (gRPC code name, message) — one bad request never fails the
rest of its batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ray import serve

from ax0n.llm.engine import Engine
from ax0n.llm.errors import ExecutorError
from ax0n.llm.inputs import parse_request
from ax0n.v1 import types_pb2
from ax0n_executor.executor import Executor
from ax0n_executor.replica import Done, Event, ServeConfig, ServedModel, Text


class ModelServer:
    """A replica: one committed model and the node key that signs its receipts."""

    def __init__(self, model: ServedModel, node_key: str, config: ServeConfig) -> None:
        device = "cuda" if config.num_gpus > 0 else "cpu"
        engine = Engine(
            Path(model.directory),
            expected_commitment=model.commitment,
            dtype=model.dtype,
            device=device,
            threads=1,
            compile=config.compile,
        )
        self.model_id, self.engine = model.model_id, engine
        self.executor = Executor({model.model_id: engine}, node_key, {model.model_id: model.price}, None, model.params)
        self._batch.set_max_batch_size(config.max_batch_size)
        self._batch.set_batch_wait_timeout_s(config.batch_wait_ms / 1000)

    def describe(self) -> dict[str, Any]:
        """What the front reports in ServedModels: the commitment this replica verified, its size and dtype."""
        return {
            "model_id": self.model_id,
            "commitment": self.engine.commitment,
            "parameters": sum(p.numel() for p in self.engine.model.parameters()),
            "dtype": self.engine.dtype,
        }

    async def stream(self, payload: bytes) -> AsyncIterator[Event | None]:
        """One request's events (None: nothing new in a step), generated in a batch with concurrent requests."""
        async for event in self._batch(payload):
            yield event

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def _batch(self, payloads: list[bytes]) -> AsyncIterator[list[Event | type[StopIteration] | None]]:
        """Execute requests together, yielding each step one item per request: its next event, None when it
        has nothing new yet, StopIteration once it has ended (Serve's batched-generator protocol)."""
        queues: list[list[Event]] = [[] for _ in payloads]
        valid: list[tuple[int, types_pb2.InferenceRequest]] = []
        for i, data in enumerate(payloads):
            try:
                req = parse_request(data)
                self.executor.prepare(req)
                valid.append((i, req))
            except ExecutorError as exc:
                queues[i].append(Done(code=exc.code.name, message=str(exc)))
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def on_text(row: int, delta: str, token_ids: list[int]) -> None:
            loop.call_soon_threadsafe(_push, queues[valid[row][0]], Text(delta, list(token_ids)), woken)

        batch = [r for _, r in valid]
        running = (
            asyncio.ensure_future(asyncio.to_thread(self.executor.execute_batch, batch, on_text)) if valid else None
        )
        ended = [False] * len(payloads)
        while not all(ended):
            if running is not None and running.done():
                _finish(running, valid, queues)
                running = None
            if not any(queues[i] for i in range(len(payloads)) if not ended[i]):
                if running is not None:
                    waiter = asyncio.ensure_future(woken.wait())
                    await asyncio.wait([running, waiter], return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    woken.clear()
                continue
            step: list[Event | type[StopIteration] | None] = []
            for i, queue in enumerate(queues):
                if ended[i]:
                    step.append(StopIteration)
                elif queue:
                    event = queue.pop(0)
                    ended[i] = isinstance(event, Done)
                    step.append(event)
                else:
                    step.append(None)
            yield step


def _push(queue: list[Event], event: Event, woken: asyncio.Event) -> None:
    queue.append(event)
    woken.set()


def _finish(
    running: asyncio.Future[list[tuple[types_pb2.Receipt, str]]],
    valid: list[tuple[int, types_pb2.InferenceRequest]],
    queues: list[list[Event]],
) -> None:
    """Queue each executed request's receipt (or, when the batch failed, the failure) after its deltas."""
    exc = running.exception()
    for row, (i, _) in enumerate(valid):
        if exc is None:
            receipt, output = running.result()[row]
            queues[i].append(Done(receipt.SerializeToString(), output))
        elif isinstance(exc, ExecutorError):
            queues[i].append(Done(code=exc.code.name, message=str(exc)))
        else:
            queues[i].append(Done(code="INTERNAL", message=f"execution failed: {type(exc).__name__}: {exc}"))


def application(model: ServedModel, node_key: str, config: ServeConfig) -> serve.Application:
    """The Serve application for one model."""
    resources = {"num_gpus": config.num_gpus} if config.num_gpus > 0 else {"num_cpus": config.num_cpus}
    autoscaling = {
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
        "target_ongoing_requests": config.target_ongoing_requests,
    }
    deployment = serve.deployment(
        ModelServer, name=f"model-{model.model_id}", autoscaling_config=autoscaling, ray_actor_options=resources
    )
    return deployment.bind(model, node_key, config)
