"""Ray Serve: one deployment per served model, batched execution.

Replicas take `num_gpus=1` on GPU nodes and `num_cpus` (one thread each) on CPU. Requests cross the
handle as serialized protobuf bytes; refusals come back as (gRPC code name, message) instead of raising,
so one bad request never fails the rest of its batch.
"""

from __future__ import annotations

from pathlib import Path

from ray import serve

from ax0n.llm.engine import Engine
from ax0n.llm.errors import ExecutorError
from ax0n.llm.inputs import parse_request
from ax0n.v1 import types_pb2
from ax0n_executor.executor import Executor

Outcome = tuple[bytes, str, str, str]  # (receipt bytes, output, error code name, error message)


class ModelServer:
    """A replica: one committed model (refused at start when its commitment differs) and the node key."""

    def __init__(
        self,
        model_id: str,
        model_dir: str,
        commitment: bytes,
        node_key: str,
        dtype: str = "float32",
        device: str = "cpu",
    ) -> None:
        engine = Engine(Path(model_dir), expected_commitment=commitment, dtype=dtype, device=device, threads=1)
        self.executor = Executor({model_id: engine}, node_key)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def execute(self, payloads: list[bytes]) -> list[Outcome]:
        """Execute requests together; each is validated alone first."""
        outcomes: list[Outcome | None] = [None] * len(payloads)
        valid: list[tuple[int, types_pb2.InferenceRequest]] = []
        for i, data in enumerate(payloads):
            try:
                req = parse_request(data)
                self.executor.prepare(req)
                valid.append((i, req))
            except ExecutorError as exc:
                outcomes[i] = (b"", "", exc.code.name, str(exc))
        if valid:
            results = self.executor.execute_batch([r for _, r in valid])
            for (i, _), (receipt, output) in zip(valid, results, strict=True):
                outcomes[i] = (receipt.SerializeToString(), output, "", "")
        return [o for o in outcomes if o is not None]


def application(
    model_id: str, model_dir: str, commitment: bytes, node_key: str, *, replicas: int = 1, gpu: bool = False, **kw: str
) -> serve.Application:
    """The Serve application for one model."""
    resources = {"num_gpus": 1} if gpu else {"num_cpus": 1}
    deployment = serve.deployment(
        ModelServer, name=f"model-{model_id}", num_replicas=replicas, ray_actor_options=resources
    )
    return deployment.bind(model_id, model_dir, commitment, node_key, device="cuda" if gpu else "cpu", **kw)
