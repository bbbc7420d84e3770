"""The Executor gRPC service: served models and the request-stream worker."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from eth_account import Account
from eth_utils import keccak
from pydantic import Field

from ax0n.llm.engine import load_engines, parse_models
from ax0n.mempool import Mempool, connect
from ax0n.mempool.pool import RETRYABLE
from ax0n.mempool.streams import HEARTBEAT
from ax0n.runtime import service, stats
from ax0n.runtime.config import ServiceSettings
from ax0n.spec.params import PROFILES
from ax0n.v1 import executor_pb2, executor_pb2_grpc, types_pb2
from ax0n_executor import zk
from ax0n_executor.executor import Executor
from ax0n_executor.replica import ServeConfig, ServedModel
from ax0n_executor.worker import StreamWorker, local, via_serve

log = logging.getLogger(__name__)


class ExecutorSettings(ServiceSettings):
    """Executor settings (AX0N_* environment variables or flags)."""

    models: str = Field(
        "", description="served models, comma-separated MODEL_ID=DIR@0xCOMMITMENT (each refused on mismatch)"
    )
    zk_models: str = Field(
        "",
        description="zk-tier models, comma-separated MODEL_ID=devnet (ProofCore's devnet MLP) or MODEL_ID=FILE.json, "
        "private-weight mode; prefix the source with public: (MODEL_ID=public:devnet) for public-weight mode",
    )
    prices: str = Field(
        "", description="registered prices, comma-separated MODEL_ID=WEI_PER_1K_TOKENS (fee = price x tokens, capped)"
    )
    node_key: str = Field("", description="hex secp256k1 key that signs receipts")
    cluster: str = Field("default", description="executor cluster: consumes ax0n:req:{cluster}")
    dtype: str = Field("float32", description="registered dtype the models run in")
    serve: bool = Field(
        False,
        description="execute LLM-tier models on Ray Serve (one deployment per model; this process loads no weights) "
        "instead of in-process",
    )
    ray_cpus: int = Field(2, description="CPUs of the local Ray instance started with --serve")
    torch_compile: bool = Field(
        False, description="run each model's decoder through torch.compile (minutes of compiling at start)"
    )
    serve_num_gpus: float = Field(0.0, description="GPUs per Serve replica (0: CPU replicas, one thread each)")
    serve_min_replicas: int = Field(1, ge=0, description="Serve autoscaling: fewest replicas per model")
    serve_max_replicas: int = Field(1, ge=1, description="Serve autoscaling: most replicas per model")
    serve_target_ongoing_requests: float = Field(
        2.0, gt=0, description="Serve autoscaling: ongoing requests per replica to scale towards"
    )
    serve_max_batch_size: int = Field(4, ge=1, description="requests a replica generates together (@serve.batch)")
    serve_batch_wait_ms: float = Field(10.0, ge=0, description="how long a replica waits to fill a batch")
    node_id: str = Field(
        "", description="32-byte routing node id (hex) heartbeats name (default: keccak256 of the node key's address)"
    )
    chain_id: int = Field(31_337, description="chain id: the EIP-712 domain of the heartbeat signature")
    heartbeat_interval_ms: int = Field(
        -1,
        description="signed heartbeat to ax0n:heartbeat this often (-1: the profile's, 5000 on mainnet and 1000 on "
        "the devnet, as the routers' and validators' stats readers expect; 0: none)",
    )

    def serve_config(self) -> ServeConfig:
        """Placement, batching and autoscaling of each model's Serve deployment."""
        return ServeConfig(
            num_gpus=self.serve_num_gpus,
            min_replicas=self.serve_min_replicas,
            max_replicas=max(self.serve_max_replicas, self.serve_min_replicas),
            target_ongoing_requests=self.serve_target_ongoing_requests,
            max_batch_size=self.serve_max_batch_size,
            batch_wait_ms=self.serve_batch_wait_ms,
            compile=self.torch_compile,
        )

    def stats_params(self) -> stats.StatsParams:
        """The profile's stats parameters, with --heartbeat-interval-ms when given."""
        params = stats.PROFILES[self.profile]
        if self.heartbeat_interval_ms < 0:
            return params
        return dataclasses.replace(params, heartbeat_interval_ms=self.heartbeat_interval_ms)

    def routing_node_id(self) -> bytes:
        """The routing node id heartbeats name; raises ValueError when --node-id is not 32 bytes of hex."""
        if not self.node_id:
            return keccak(bytes.fromhex(Account.from_key(self.node_key).address[2:]))
        try:
            node_id = bytes.fromhex(self.node_id.removeprefix("0x"))
        except ValueError:
            node_id = b""
        if len(node_id) != 32:
            raise ValueError(f"bad --node-id {self.node_id!r}: expected 32 bytes of hex")
        return node_id


class ExecutorServicer(executor_pb2_grpc.ExecutorServicer):
    def __init__(self, settings: ServiceSettings, executor: Executor, worker: WorkerComponent | None = None) -> None:
        self.settings, self.executor, self.worker = settings, executor, worker

    async def Status(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ServiceStatus:
        served = self.worker.served() if self.worker is not None else self.executor.served()
        return service.status("executor", self.settings, models=",".join(served))

    async def ServedModels(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> executor_pb2.ServedModelsResponse:
        return executor_pb2.ServedModelsResponse(
            models=[
                types_pb2.ModelInfo(
                    model_id=model_id,
                    tier=types_pb2.TIER_LLM,
                    commitment=engine.commitment,
                    parameters=sum(p.numel() for p in engine.model.parameters()),
                    price_per_1k_tokens=str(self.executor.prices.get(model_id, 0)),
                    active=True,
                )
                for model_id, engine in sorted(self.executor.engines.items())
            ]
            + (self.worker.serve_models() if self.worker is not None else [])
            + [
                types_pb2.ModelInfo(
                    model_id=model_id,
                    tier=types_pb2.TIER_ZK,
                    commitment=model.commitment_bytes(),
                    parameters=model.parameter_count(),
                    price_per_1k_tokens=str(self.executor.prices.get(model_id, 0)),
                    active=True,
                )
                for model_id, model in sorted(self.executor.zk_models.items())
            ]
        )


class WorkerComponent:
    """Runs the stream worker beside the gRPC server (on Ray Serve deployments with --serve)."""

    def __init__(self, executor: Executor, settings: ExecutorSettings) -> None:
        self.executor, self.settings = executor, settings
        self._task: asyncio.Task[None] | None = None
        self._worker: StreamWorker | None = None
        self._pool: Mempool | None = None
        self._serve_models: list[types_pb2.ModelInfo] = []
        self._handles: dict[str, Any] = {}

    async def start(self) -> None:
        self._pool = Mempool.from_url(self.settings.redis_url, shards=self.settings.mempool_shards)
        name = service.instance_name(self.settings)
        run = local(self.executor)
        if self.settings.serve:
            run = via_serve(await asyncio.to_thread(self._start_serve), run)
            self._serve_models = await self._describe()
        self._worker = StreamWorker(run, self._pool, self.settings.cluster, name)
        self._task = asyncio.create_task(self._worker.run())

    def _start_serve(self) -> dict[str, Any]:
        """Start a local Ray and one Serve deployment per LLM-tier model (each replica checks the commitment)."""
        import ray
        from ray import serve

        from ax0n_executor.serving import application

        ray.init(num_cpus=self.settings.ray_cpus, include_dashboard=False, ignore_reinit_error=True)
        prices, params = parse_prices(self.settings.prices), PROFILES[self.settings.profile]
        handles = {}
        for model_id, (directory, commitment) in parse_models(self.settings.models).items():
            model = ServedModel(model_id, directory, commitment, self.settings.dtype, prices.get(model_id, 0), params)
            app = application(model, self.settings.node_key, self.settings.serve_config())
            handles[model_id] = serve.run(app, name=f"model-{model_id}", route_prefix=None)
        self._handles = handles
        return handles

    async def _describe(self) -> list[types_pb2.ModelInfo]:
        """ServedModels entries for the Serve deployments, as their replicas loaded and verified them."""
        infos = []
        for model_id, handle in sorted(self._handles.items()):
            d = await handle.describe.remote()
            infos.append(
                types_pb2.ModelInfo(
                    model_id=model_id,
                    tier=types_pb2.TIER_LLM,
                    commitment=d["commitment"],
                    parameters=d["parameters"],
                    price_per_1k_tokens=str(parse_prices(self.settings.prices).get(model_id, 0)),
                    active=True,
                )
            )
        return infos

    def serve_models(self) -> list[types_pb2.ModelInfo]:
        """The models running on Serve deployments (empty without --serve or before start)."""
        return list(self._serve_models)

    def served(self) -> list[str]:
        """Every model id this node executes: in-process and on Serve."""
        return sorted([*self.executor.served(), *(m.model_id for m in self._serve_models)])

    def in_flight(self) -> int:
        """Requests the stream worker is executing now."""
        return self._worker.in_flight if self._worker is not None else 0

    async def stop(self) -> None:
        if self._worker is not None and self._task is not None:
            self._worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            await self._pool.close()
        if self.settings.serve:
            from ray import serve

            await asyncio.to_thread(serve.shutdown)


class HeartbeatComponent:
    """Appends a heartbeat signed with the node key to ax0n:heartbeat every `heartbeat_interval_ms` (ax0n.runtime.stats).

    Each append trims entries older than the retention bound, reckoned from the previous append's
    Redis-assigned id (the server's clock, not this node's)."""

    def __init__(
        self,
        settings: ExecutorSettings,
        served: Callable[[], list[str]],
        in_flight: Callable[[], int],
        *,
        params: stats.StatsParams | None = None,
        stream: str = HEARTBEAT,
    ) -> None:
        self.node_id = settings.routing_node_id()
        self.settings, self.params, self.stream = settings, params or settings.stats_params(), stream
        self.served, self.in_flight = served, in_flight
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        client = connect(self.settings.redis_url)
        interval = self.params.heartbeat_interval_ms / 1_000
        last_ms: int | None = None
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                hb = stats.sign_heartbeat(
                    self.node_id,
                    time.time_ns() // 1_000_000,
                    self.settings.chain_id,
                    self.settings.node_key,
                    models=self.served(),
                    in_flight=self.in_flight(),
                )
                trim = None if last_ms is None else last_ms - self.params.retention_ms
                try:
                    last_ms = stats.entry_ms(
                        await stats.publish_heartbeat(client, hb, trim_before_ms=trim, stream=self.stream)
                    )
                except RETRYABLE as exc:
                    log.warning("heartbeat not sent: redis unavailable (%s)", exc)
                next_at = max(next_at + interval, time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), next_at - time.monotonic())
        finally:
            await client.aclose()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


def load(settings: ExecutorSettings) -> Executor:
    """Load every configured in-process model, checking its commitment (with --serve the LLM-tier models load in
    their Serve replicas instead)."""
    return Executor(
        {} if settings.serve else load_engines(settings.models, settings.dtype, compile=settings.torch_compile),
        settings.node_key,
        parse_prices(settings.prices),
        zk.parse_models(settings.zk_models),
        PROFILES[settings.profile],
    )


def parse_prices(spec: str) -> dict[str, int]:
    """`id=wei,...` → {id: wei per 1k tokens}; raises ValueError naming the bad entry."""
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        model_id, sep, wei = item.partition("=")
        if not (sep and model_id and wei.isdigit()):
            raise ValueError(f"bad price entry {item!r}: expected MODEL_ID=WEI_PER_1K_TOKENS")
        out[model_id] = int(wei)
    return out


def build(settings: ExecutorSettings) -> service.ServiceSpec:
    executor = load(settings)
    served = executor.engines or executor.zk_models or (settings.serve and parse_models(settings.models))
    components: list[service.Component] = []
    worker = None
    if served and settings.node_key:
        worker = WorkerComponent(executor, settings)
        components.append(worker)
        if settings.stats_params().heartbeat_interval_ms > 0:
            components.append(HeartbeatComponent(settings, worker.served, worker.in_flight))
    servicer = ExecutorServicer(settings, executor, worker)
    return service.ServiceSpec(
        name="executor",
        register=lambda server: executor_pb2_grpc.add_ExecutorServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Executor"],
        components=components,
    )
