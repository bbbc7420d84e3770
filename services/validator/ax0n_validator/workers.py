"""Stream wiring: attesters read `ax0n:proved`, publish to `ax0n:att`; the aggregator publishes `ax0n:final`.

Every validator process reads every proved receipt and every attestation, so each uses consumer groups of
its own (`attester:{instance}`, `aggregator:{instance}`); the settler and router de-duplicate
`ax0n:final` by key (the request id), so several aggregators may run side by side. With each VALID
certificate the aggregator also publishes the receipt's latency sample to `ax0n:latency` (ax0n.runtime.stats), when
the request and exec entries the receipt carries check out, signed with the validator key it is given (none: it
publishes no samples); stats readers count only samples signed by registered validators, combined per request.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import logging
from dataclasses import dataclass

from redis.exceptions import ResponseError

from ax0n.mempool import Entry, Mempool, Outbound, Sharded
from ax0n.mempool import streams as names
from ax0n.mempool.pool import RETRYABLE
from ax0n.mempool.streams import ATTESTATIONS, FAULTS
from ax0n.runtime import stats
from ax0n.spec import bls
from ax0n.spec.receipt import receipt_hash
from ax0n.v1 import types_pb2
from ax0n_validator.aggregator import MAX_OPEN, Aggregator
from ax0n_validator.client import ValidatorClient

log = logging.getLogger(__name__)

_READ = {"batch": 256, "block_ms": 200, "concurrency": 64}  # a quorum's attestations arrive in bursts


@dataclass(frozen=True, slots=True)
class Streams:
    proved: str = names.PROVED
    attestations: str = ATTESTATIONS
    final: str = names.FINAL
    faults: str = FAULTS
    latency: str = names.LATENCY
    executed: str = names.EXECUTED  # where latency samples look up the exec entry
    requests_prefix: str = names.REQUESTS_PREFIX  # ... and the request entry, on {prefix}{{cluster}}


def attestation_key(att: types_pb2.Attestation) -> str:
    digest = hashlib.sha256(att.signature).hexdigest()[:16]
    return f"{att.request_id.hex()}:{att.committee_index}:{att.verdict}:{digest}"


class _Worker:
    def __init__(self, consumers: list[Sharded]) -> None:
        self.consumers = consumers
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(c.run()) for c in self.consumers]

    async def stop(self) -> None:
        for c in self.consumers:
            c.stop()
        await asyncio.gather(*self._tasks)


class Attester(_Worker):
    """Runs a ValidatorClient over the streams."""

    def __init__(self, pool: Mempool, client: ValidatorClient, instance: str, streams: Streams = Streams()) -> None:
        self.client, self.streams = client, streams
        group = f"attester:{instance}"
        super().__init__(
            [
                Sharded(pool, streams.proved, group, instance, types_pb2.ProvedReceipt, self._on_proved, **_READ),
                Sharded(pool, streams.attestations, group, instance, types_pb2.Attestation, self._on_att, **_READ),
            ]
        )

    def _out(self, atts: list[types_pb2.Attestation]) -> list[Outbound]:
        return [Outbound(self.streams.attestations, a, attestation_key(a)) for a in atts]

    async def _on_proved(self, entry: Entry[types_pb2.ProvedReceipt]) -> list[Outbound]:
        return self._out(await self.client.on_proved(entry.message))

    async def _on_att(self, entry: Entry[types_pb2.Attestation]) -> list[Outbound]:
        return self._out(await self.client.on_attestation(entry.message))


class AggregatorWorker(_Worker):
    """Runs an Aggregator over the streams; keeps the certificates it formed for GetCertificate."""

    def __init__(
        self,
        pool: Mempool,
        aggregator: Aggregator,
        instance: str,
        streams: Streams = Streams(),
        stats_params: stats.StatsParams = stats.DEFAULT,
        sample_key: bls.SecretKey | None = None,
    ) -> None:
        """`sample_key`: the registered validator key latency samples are signed with (None: no samples)."""
        self.pool, self.aggregator, self.streams, self.stats_params = pool, aggregator, streams, stats_params
        self.sample_key = sample_key
        self.certificates: collections.OrderedDict[bytes, types_pb2.QuorumCertificate] = collections.OrderedDict()
        group = f"aggregator:{instance}"
        super().__init__(
            [
                Sharded(pool, streams.proved, group, instance, types_pb2.ProvedReceipt, self._on_proved, **_READ),
                Sharded(pool, streams.attestations, group, instance, types_pb2.Attestation, self._on_att, **_READ),
            ]
        )

    async def _publish(self, outcome: types_pb2.FinalizedReceipt | types_pb2.FaultRecord | None) -> list[Outbound]:
        if outcome is None:
            return []
        request_id = outcome.receipt.request_id
        if isinstance(outcome, types_pb2.FaultRecord) and outcome.HasField("conflicting"):
            return [Outbound(self.streams.faults, outcome, f"equivocation:{request_id.hex()}")]
        self.certificates[request_id] = outcome.certificate
        while len(self.certificates) > MAX_OPEN:
            self.certificates.popitem(last=False)
        if isinstance(outcome, types_pb2.FaultRecord):
            return [Outbound(self.streams.faults, outcome, request_id.hex())]
        return [Outbound(self.streams.final, outcome, request_id.hex()), *await self._latency(request_id)]

    async def _latency(self, request_id: bytes) -> list[Outbound]:
        """The latency sample of the receipt just certified VALID, when it can be measured (ax0n.runtime.stats)."""
        item = self.aggregator.proved(request_id)
        if item is None or self.sample_key is None:
            return []
        redis, s = self.pool.redis, self.streams
        try:  # the certificate is published either way: this entry is not handled again once certified
            # the executor keys its exec entries by receipt hash: that key's shard holds the entry
            executed = self.pool.stream_for(s.executed, receipt_hash(item.receipt).hex())
            sample = await stats.measure_latency(redis, item, requests_prefix=s.requests_prefix, executed=executed)
            if sample is None:
                return []
            # retention on write, reckoned from the exec entry's Redis-assigned time
            oldest = stats.entry_ms(sample.exec_entry_id) - self.stats_params.retention_ms
            await redis.xtrim(s.latency, minid=str(max(oldest, 0)), approximate=True)
        except (*RETRYABLE, ResponseError) as exc:
            log.warning("request %s: latency sample not measured: %s", request_id.hex(), exc)
            return []
        sample = stats.sign_sample(sample, self.sample_key, self.aggregator.chain_id)
        return [Outbound(s.latency, sample, request_id.hex())]

    async def _on_proved(self, entry: Entry[types_pb2.ProvedReceipt]) -> list[Outbound]:
        return await self._publish(self.aggregator.add_receipt(entry.message))

    async def _on_att(self, entry: Entry[types_pb2.Attestation]) -> list[Outbound]:
        return await self._publish(self.aggregator.add_attestation(entry.message))
