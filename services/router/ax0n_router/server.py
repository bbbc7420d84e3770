"""The Router gRPC service and the process wiring (gRPC + OpenAI-compatible HTTP + the final watcher)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import grpc
import uvicorn
from web3 import Web3

from ax0n.chain.deploy import Manifest
from ax0n.mempool import Mempool
from ax0n.runtime import service, telemetry
from ax0n.runtime.snapshots import SnapshotBuilder
from ax0n.runtime.stats import PROFILES as STATS
from ax0n.spec import finality
from ax0n.spec.answers import Deployment
from ax0n.spec.params import PROFILES as PARAMS
from ax0n.spec.params import Params
from ax0n.v1 import router_pb2, router_pb2_grpc, settler_pb2, settler_pb2_grpc, types_pb2
from ax0n_router import errors, mesh
from ax0n_router.admission import Admission
from ax0n_router.core import RouterCore
from ax0n_router.errors import Rejection
from ax0n_router.openai_http import ApiDefaults, OpenAIApi
from ax0n_router.registry import ChainRegistry, FileRegistry, Registry, Unconfigured
from ax0n_router.settings import RouterSettings
from ax0n_router.snapshots import SnapshotRefresher

T = TypeVar("T")


log = logging.getLogger(__name__)


async def _abort(context: grpc.aio.ServicerContext, rej: Rejection) -> None:
    trailing = (("retry-after", str(rej.retry_after_s)),) if rej.retry_after_s is not None else ()
    await context.abort(rej.code, rej.message, trailing_metadata=trailing)


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(self, core: RouterCore, settings: RouterSettings) -> None:
        self.core, self.settings = core, settings
        self._settler: settler_pb2_grpc.SettlerStub | None = None  # made on the server's event loop, at first use

    async def _with_settlement(self, result: types_pb2.InferenceResult) -> types_pb2.InferenceResult:
        """`result` with its L1 settlement when the settler knows it (its batch is built), else unchanged."""
        if not self.settings.settler_target:
            return result
        if self._settler is None:
            self._settler = settler_pb2_grpc.SettlerStub(
                telemetry.channel(self.settings.settler_target, self.settings.tls_ca_file)
            )
        try:
            found = await self._settler.GetSettlement(
                settler_pb2.GetSettlementRequest(request_id=result.request_id), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                log.warning("settler at %s: %s", self.settings.settler_target, exc.details())
            return result
        result.settlement.CopyFrom(found)
        return result

    async def _call(self, context: grpc.aio.ServicerContext, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except Rejection as rej:
            await _abort(context, rej)
            raise  # unreachable: abort raises

    async def Infer(self, request: types_pb2.InferenceRequest, context: grpc.aio.ServicerContext):
        return await self._call(context, lambda: self.core.infer(request))

    async def Stream(
        self, request: types_pb2.InferenceRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.StreamChunk]:
        try:
            async for item in self.core.stream(request):
                yield item
        except Rejection as rej:
            await _abort(context, rej)

    async def GetResult(self, request: router_pb2.GetResultRequest, context: grpc.aio.ServicerContext):
        wait = 0.0
        if request.wait:
            remaining = context.time_remaining()
            wait = remaining if remaining is not None else 60.0
        result = await self._call(context, lambda: self.core.get_result(bytes(request.request_id), wait))
        return await self._with_settlement(result)

    async def ListModels(self, request: router_pb2.ListModelsRequest, context: grpc.aio.ServicerContext):
        return router_pb2.ListModelsResponse(models=self.core.admission.registry.models())

    async def Route(self, request: router_pb2.RouteRequest, context: grpc.aio.ServicerContext):
        req = types_pb2.InferenceRequest(request_id=request.request_id, model_id=request.model_id)
        if len(request.request_id) != 32:
            await _abort(context, errors.invalid("request_id must be 32 bytes"))
        return await self._call(context, lambda: self.core.admission.route(req))

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext):
        try:
            index = await self.core.admission.index()
        except Rejection as rej:
            return service.status("router", self.settings, registry=rej.message)
        return service.status(
            "router", self.settings, snapshot_block=str(index.block), snapshot_hash=index.snapshot_hash.hex()
        )


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # the service runner owns SIGTERM/SIGINT
        yield


class HttpComponent:
    """Serves the OpenAI-compatible API with uvicorn inside the service's event loop."""

    def __init__(self, app, host: str, port: int) -> None:
        self.server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                await self._task
                raise SystemExit("ax0n-router: the HTTP server did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task


class FinalComponent:
    def __init__(self, finals: mesh.FinalWatcher, pool: Mempool) -> None:
        self.finals, self.pool = finals, pool

    async def start(self) -> None:
        await self.finals.start()

    async def stop(self) -> None:
        await self.finals.stop()
        await self.pool.close()


def load_api_keys(path: str) -> dict[bytes, str]:
    if not path:
        return {}
    return {bytes.fromhex(k): v for k, v in json.loads(Path(path).read_text()).items()}


def final_check(registry: Registry, deployment: Deployment, params: Params) -> mesh.FinalCheck:
    """What makes a final deliverable: ax0n.spec.finality against the validator set at the receipt's snapshot."""
    return lambda final: finality.final_fault(final, registry.validator_set, deployment, params)


def build(settings: RouterSettings) -> service.ServiceSpec:
    registry: Registry = FileRegistry(settings.registry_file) if settings.registry_file else Unconfigured()
    pool = Mempool.from_url(settings.redis_url, shards=settings.mempool_shards)
    components: list[service.Component] = []
    if settings.rpc_url and settings.deployment:
        w3 = Web3(Web3.HTTPProvider(settings.rpc_url))
        manifest = Manifest.load(settings.deployment)
        snapshots = registry.snapshot
        if not settings.registry_file:  # snapshots from NodeRegistry and the stats streams, like the validators'
            builder = SnapshotBuilder(w3, manifest, pool.redis, settings.chain_id, STATS[settings.profile])
            refresher = SnapshotRefresher(builder, w3, PARAMS[settings.profile].routing_rebuild_interval)
            components.append(refresher)
            snapshots = refresher.snapshot
        registry = ChainRegistry(w3, manifest, snapshots)
    limits = settings.limits()
    finals = mesh.FinalWatcher(pool, final_check(registry, limits.deployment, PARAMS[settings.profile]))
    core = RouterCore(Admission(registry, pool, limits), pool, finals)
    servicer = RouterServicer(core, settings)
    components.append(FinalComponent(finals, pool))
    if settings.http_port >= 0:
        defaults = ApiDefaults(
            deployment=limits.deployment,
            deadline_s=settings.default_deadline_s,
            max_latency_ms=settings.default_max_latency_ms,
            max_tokens=settings.default_max_tokens,
            max_body_bytes=settings.max_body_bytes,
        )
        api = OpenAIApi(core, load_api_keys(settings.api_keys_file), defaults)
        components.append(HttpComponent(api.app, settings.host, settings.http_port))
    return service.ServiceSpec(
        name="router",
        register=lambda server: router_pb2_grpc.add_RouterServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Router"],
        components=components,
    )
