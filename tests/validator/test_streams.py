"""Attesters and an aggregator over a real redis-server: proved receipt in, quorum certificate out."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from ax0n_validator.aggregator import Aggregator
from ax0n_validator.client import Quorums, ValidatorClient, draw_quorum
from ax0n_validator.workers import AggregatorWorker, Attester, Streams

from ax0n.mempool import Mempool
from ax0n.spec import certificate as qc
from ax0n.spec.params import MAINNET
from ax0n.v1 import types_pb2

from .helpers import CHAIN_ID, Registry
from .scenario import Validators, checks, proved_receipt, receipt_hash


async def read_one(pool: Mempool, stream: str, message_type, timeout: float = 30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        rows = await pool.redis.xrange(stream)
        if rows:
            return [message_type.FromString(fields[b"data"]) for _, fields in rows]
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing on {stream} within {timeout}s")


async def test_receipts_finalize_and_faults_are_published_over_redis(redis_url: str, registry: Registry) -> None:
    tag = uuid.uuid4().hex[:8]
    streams = Streams(f"t:{tag}:proved", f"t:{tag}:att", f"t:{tag}:final", f"t:{tag}:fault")
    validators = Validators(registry)
    pool = Mempool.from_url(redis_url)
    quorums = Quorums(validators.sets)  # one per process, shared by its clients and aggregator
    workers = [
        Attester(pool, ValidatorClient(ks, quorums, checks(), receipt_hash, CHAIN_ID), f"v{i}", streams)
        for i, ks in enumerate(validators.keystores(4))
    ]
    aggregator = AggregatorWorker(pool, Aggregator(quorums, receipt_hash, CHAIN_ID), "agg", streams)
    workers.append(aggregator)
    try:
        for w in workers:
            await w.start()
        good = proved_receipt(hashlib.sha256(b"stream good " + tag.encode()).digest())
        bad = proved_receipt(hashlib.sha256(b"stream bad " + tag.encode()).digest())
        bad.receipt.output_hash = b"\x01" * 32  # altered after signing
        await pool.publish(streams.proved, good, key=good.receipt.request_id.hex())
        await pool.publish(streams.proved, bad, key=bad.receipt.request_id.hex())

        [final] = await read_one(pool, streams.final, types_pb2.FinalizedReceipt)
        assert final.receipt.request_id == good.receipt.request_id
        quorum, _ = draw_quorum(validators.sets, final.receipt, MAINNET)
        assert len(qc.verify_certificate(final.certificate, quorum, CHAIN_ID)) >= 171
        [fault] = await read_one(pool, streams.faults, types_pb2.FaultRecord)
        assert fault.receipt.request_id == bad.receipt.request_id
        assert fault.certificate.verdict == qc.INVALID and "signature" in fault.reason
        assert aggregator.certificates[good.receipt.request_id] == final.certificate
    finally:
        for w in workers:
            await w.stop()
        await pool.close()
