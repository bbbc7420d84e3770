"""The Settler gRPC service: intake from `ax0n:final`, the settlement loop, settlement lookups, and the challenge
watcher on `ax0n:fault`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import grpc
from web3 import HTTPProvider, Web3

from ax0n.chain.snapshot import ValidatorSetReader
from ax0n.mempool import Mempool, Sharded, connect, streams
from ax0n.mempool.pool import connect_sync
from ax0n.runtime import service
from ax0n.spec import answers, finality
from ax0n.spec.params import PROFILES
from ax0n.spec.settlement import tree_size
from ax0n.v1 import settler_pb2, settler_pb2_grpc, types_pb2
from ax0n.zk.batch import CircuitBatchProver
from ax0n_settler import intake, lookup
from ax0n_settler.chain import SettlementChain, abi
from ax0n_settler.challenges import Challenger, ChallengeWatcher
from ax0n_settler.committee import BatchCommittee, LocalCommittee, ValidatorCommittee
from ax0n_settler.journal import Journal
from ax0n_settler.settings import SettlerSettings
from ax0n_settler.settler import Settler

log = logging.getLogger(__name__)


class SettlerServicer(settler_pb2_grpc.SettlerServicer):
    def __init__(self, settings: SettlerSettings, journal: Journal, loop: SettlementLoop | None) -> None:
        self.settings, self.journal, self.loop = settings, journal, loop
        self.params = PROFILES[settings.profile]

    async def Status(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ServiceStatus:
        return service.status("settler", self.settings, settling="yes" if self.loop else "no (no rpc_url)")

    async def GetSettlement(
        self, request: settler_pb2.GetSettlementRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.Settlement:
        if len(request.request_id) != 32:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "request_id must be 32 bytes")
        head = self.loop.head if self.loop else None
        found = await asyncio.to_thread(lookup.settlement, self.journal, self.params, bytes(request.request_id), head)
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"request {request.request_id.hex()} is in no batch yet")
        return found


class IntakeComponent:
    def __init__(self, consumer: Sharded[types_pb2.FinalizedReceipt], pool: Mempool) -> None:
        self.consumer, self.pool = consumer, pool
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.consumer.run(), name="settler-intake")

    async def stop(self) -> None:
        self.consumer.stop()
        if self._task:
            await self._task
        await self.pool.close()


def validator_committee(s: SettlerSettings, head: Callable[[], int] | None = None) -> ValidatorCommittee | None:
    """The validators named by `validator_targets` (None when none are): batch and fault committees, asked with
    calls the settler's account signs; `head` (the chain head) picks recent batch reference blocks."""
    targets = [t.strip() for t in s.validator_targets.split(",") if t.strip()]
    if not targets:
        return None
    if not s.settler_key_file:
        raise ValueError("--validator-targets needs --settler-key-file: validators serve only signed calls")
    interval = PROFILES[s.profile].routing_rebuild_interval
    key = Path(s.settler_key_file).read_text().strip()
    return ValidatorCommittee(targets, key, head=head, interval=interval, ca_file=s.tls_ca_file)


def settlement_chain(s: SettlerSettings) -> SettlementChain:
    """Settlement on `rpc_url`, driven by the settler's account (reads the chain: call off the event loop)."""
    w3 = Web3(HTTPProvider(s.rpc_url, request_kwargs={"timeout": 30}))
    return SettlementChain(w3, s.settlement_address, Path(s.settler_key_file).read_text().strip())


class SettlementLoop:
    """Runs Settler.tick() in a worker thread every `tick_s` (web3 and the journal are synchronous)."""

    def __init__(self, settings: SettlerSettings, journal: Journal) -> None:
        self.settings, self.journal = settings, journal
        self.head: int | None = None
        self.owner = service.instance_name(settings)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _settler(self) -> Settler:
        s = self.settings
        chain = settlement_chain(s)
        params = PROFILES[s.profile]
        prover = CircuitBatchProver(tree_size(params.max_batch_size), build=False)  # `make artifacts` builds them
        committee: BatchCommittee | None = validator_committee(s, chain.head)
        if committee is None and s.committee_keys_dir:
            committee = LocalCommittee.from_dir(s.committee_keys_dir, chain.head, params.routing_rebuild_interval)
        if committee is None:
            raise RuntimeError("no batch committee: set validator_targets (the validators' gRPC addresses)")
        return Settler(self.journal, chain, prover, committee, params, s.policy())

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="settlement-loop")

    async def _run(self) -> None:
        settler: Settler | None = None
        while not self._stop.is_set():
            try:
                if not await asyncio.to_thread(self.journal.hold_lease, self.owner, self.settings.lease_s):
                    settler = None  # another instance settles; stand by
                elif settler is None:
                    settler = await asyncio.to_thread(self._settler)
                if settler is not None:
                    await asyncio.to_thread(settler.tick)
                    self.head = await asyncio.to_thread(settler.chain.head)
            except Exception:  # keep settling across RPC and Redis outages; state is in the journal
                log.exception("settlement pass failed; retrying")
                settler = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.tick_s)

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await self._task


def final_check(s: SettlerSettings) -> intake.FinalCheck:
    """ax0n.spec.finality against the validator sets NodeRegistry held at each receipt's snapshot block."""
    w3 = Web3(Web3.HTTPProvider(s.rpc_url))
    settlement = w3.eth.contract(Web3.to_checksum_address(s.settlement_address), abi=abi("Settlement"))
    sets = ValidatorSetReader(w3, w3.eth.contract(settlement.functions.nodes().call(), abi=abi("NodeRegistry")))
    deployment, params = answers.Deployment.of(w3.eth.chain_id, s.settlement_address), PROFILES[s.profile]
    return lambda final: finality.final_fault(final, sets, deployment, params)


def build(settings: service.ServiceSettings) -> service.ServiceSpec:
    s = settings if isinstance(settings, SettlerSettings) else SettlerSettings(**settings.model_dump())
    journal = Journal(connect_sync(s.redis_url), s.journal_prefix)
    components: list[service.Component] = []
    loop = SettlementLoop(s, journal) if s.rpc_url else None
    if loop:  # without a chain there is nothing to settle, and no validator set to check finals against
        pool = Mempool(connect(s.redis_url), shards=s.mempool_shards)
        consumer = Sharded(
            pool,
            streams.FINAL,
            streams.SETTLER_GROUP,
            service.instance_name(s),
            types_pb2.FinalizedReceipt,
            intake.handler(journal.queue, final_check(s)),
        )
        components.append(IntakeComponent(consumer, pool))
        components.append(loop)
        components.append(
            ChallengeWatcher(
                Mempool(connect(s.redis_url), shards=s.mempool_shards),
                lambda: Challenger(settlement_chain(s), validator_committee(s)),
                service.instance_name(s),
                stream=s.faults_stream,
                retry_s=s.challenge_retry_s,
                max_attempts=s.challenge_max_attempts,
            )
        )
    servicer = SettlerServicer(s, journal, loop)
    return service.ServiceSpec(
        name="settler",
        register=lambda server: settler_pb2_grpc.add_SettlerServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Settler"],
        components=components,
    )
