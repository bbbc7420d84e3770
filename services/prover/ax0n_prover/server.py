"""The Prover service: consumes ax0n:exec, proves zk-tier receipts, forwards LLM-tier ones to ax0n:proved,
and answers Verify over gRPC."""

from __future__ import annotations

import asyncio
import logging

import grpc

from ax0n.mempool import Entry, MalformedEntry, Mempool, Outbound, Sharded, streams
from ax0n.runtime import service
from ax0n.runtime.config import ServiceSettings
from ax0n.spec.receipt import receipt_hash
from ax0n.v1 import prover_pb2, prover_pb2_grpc, types_pb2
from ax0n.zk import artifacts, envelope
from ax0n.zk.mlp import QuantizedMLP, devnet_model
from ax0n.zk.models import Mode, ZkModel
from ax0n_prover.core import OutputFault, ProvingFailure, ReceiptProver
from ax0n_prover.settings import FAULTS, ProverSettings

log = logging.getLogger(__name__)


def load_models(paths: list[str], mlp: artifacts.Artifacts | None = None) -> dict[bytes, ZkModel]:
    """The devnet model and the weight files in `paths`, each in both modes (a public-weight model's circuit is
    set up here when its artifacts are missing: the prover's keys are the ones verifiers import)."""
    mlp = mlp or artifacts.load(artifacts.MLP)
    out: dict[bytes, ZkModel] = {}
    for weights in (devnet_model(), *(QuantizedMLP.load(p) for p in paths)):
        for model in (ZkModel(weights, Mode.PRIVATE_WEIGHTS, mlp), ZkModel.load(weights, Mode.PUBLIC_WEIGHTS)):
            out[model.commitment_bytes()] = model
    return out


class ExecutedConsumer:
    """The ax0n:exec consumer: one proof per zk-tier receipt, `prove_concurrency` at a time, off the event loop.

    A zk-tier receipt whose node signed a wrong output hash is not proved: its fault evidence (the receipt, a
    proof of the true output) goes to the faults stream for the settler's challenge watcher, and the entry is
    acknowledged. Other unprovable receipts (ProvingFailure) are dead-lettered at once with the reason; other
    errors are retried by the consumer group and dead-lettered past its delivery limit. Nothing is dropped
    silently."""

    def __init__(self, pool: Mempool, prover: ReceiptProver, name: str, concurrency: int, faults: str = FAULTS) -> None:
        self.prover, self.faults = prover, faults
        self.consumer = Sharded(
            pool,
            streams.EXECUTED,
            streams.PROVER_GROUP,
            name,
            types_pb2.ExecutedReceipt,
            self.handle,
            concurrency=concurrency,
            batch=max(concurrency, 1),
        )
        self._task: asyncio.Task[None] | None = None

    async def handle(self, item: Entry[types_pb2.ExecutedReceipt]) -> list[Outbound]:
        try:
            proved = await asyncio.to_thread(self.prover.prove, item.message)
        except OutputFault as fault:
            record = fault.record
            log.warning("request %s: %s; fault evidence published", record.receipt.request_id.hex(), record.reason)
            return [Outbound(self.faults, record, key=f"zk-output:{receipt_hash(record.receipt).hex()}")]
        except ProvingFailure as exc:
            raise MalformedEntry(f"cannot prove: {exc}") from exc
        # where the request and this receipt sit in the streams: the aggregator's latency sample (ax0n.runtime.stats)
        proved.request_entry_id, proved.exec_entry_id = item.message.request_entry_id, item.id
        return [Outbound(streams.PROVED, proved, key=item.key)]

    async def start(self) -> None:
        self._task = asyncio.create_task(self.consumer.run())

    async def stop(self) -> None:
        self.consumer.stop()
        if self._task is not None:
            await self._task


class ProverServicer(prover_pb2_grpc.ProverServicer):
    def __init__(self, settings: ProverSettings, circuits: list[artifacts.Artifacts]) -> None:
        self.settings = settings
        self.circuits = {a.spec.name: a for a in circuits}

    async def Status(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ServiceStatus:
        details = {f"vk:{name}": art.vk_hash.hex() for name, art in self.circuits.items()}
        return service.status("prover", self.settings, setup="single-party (UNSAFE: devnet only)", **details)

    async def Verify(
        self, request: prover_pb2.VerifyRequest, context: grpc.aio.ServicerContext
    ) -> prover_pb2.VerifyResponse:
        art = self.circuits.get(request.circuit_id or request.proof.circuit_id)
        if art is None:
            return prover_pb2.VerifyResponse(valid=False, reason=f"unknown circuit {request.circuit_id!r}")
        public, verdict = envelope.public_inputs_from_bytes(list(request.proof.public_inputs))
        if public is not None:
            verdict = art.verify(request.proof.envelope, public)
        return prover_pb2.VerifyResponse(valid=verdict.valid, reason=verdict.reason)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    prover_settings = settings if isinstance(settings, ProverSettings) else ProverSettings(**settings.model_dump())
    mlp_art = artifacts.load(artifacts.MLP)
    models = load_models(prover_settings.zk_models, mlp_art)
    pool = Mempool.from_url(settings.redis_url, shards=settings.mempool_shards)
    consumer = ExecutedConsumer(
        pool,
        ReceiptProver(mlp_art, models),
        service.instance_name(settings),
        prover_settings.prove_concurrency,
        prover_settings.faults_stream,
    )
    servicer = ProverServicer(prover_settings, [m.artifacts for m in models.values()])
    return service.ServiceSpec(
        name="prover",
        register=lambda server: prover_pb2_grpc.add_ProverServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Prover"],
        components=[consumer],
    )
