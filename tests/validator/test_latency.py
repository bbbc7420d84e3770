"""Latency samples from a real aggregator: a receipt certified VALID over redis yields one sample on the latency
stream, measured between the request's and the receipt's Redis entry ids, only when those entries check out, and
signed with the aggregator's registered validator key; readers count it against the validator set only."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

from ax0n_validator.aggregator import Aggregator
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.workers import AggregatorWorker, Attester, Streams
from eth_account import Account

from ax0n.mempool import Mempool
from ax0n.mempool import entry as wire
from ax0n.mempool.streams import requests_stream
from ax0n.runtime import stats
from ax0n.runtime.stats import Registration, StatsReader
from ax0n.spec import bls
from ax0n.v1 import types_pb2

from .helpers import CHAIN_ID, Registry
from .scenario import NODE_KEYS, Validators, checks, proved_receipt, receipt_hash
from .test_streams import read_one


async def _append(pool: Mempool, stream: str, message, key: str) -> str:
    return (await pool.redis.xadd(stream, wire.encode(message, key, {}))).decode()


async def test_valid_receipts_give_latency_samples_and_stats(redis_url: str, registry: Registry) -> None:
    tag = uuid.uuid4().hex[:8]
    streams = Streams(
        f"t:{tag}:proved",
        f"t:{tag}:att",
        f"t:{tag}:final",
        f"t:{tag}:fault",
        latency=f"t:{tag}:latency",
        executed=f"t:{tag}:exec",
        requests_prefix=f"t:{tag}:req:",
    )
    validators = Validators(registry)
    pool = Mempool.from_url(redis_url)
    quorums = Quorums(validators.sets)
    workers = [
        Attester(pool, ValidatorClient(ks, quorums, checks(), receipt_hash, CHAIN_ID), f"v{i}", streams)
        for i, ks in enumerate(validators.keystores(4))
    ]
    key = registry.secrets[0]  # the aggregator's own registered validator key
    workers.append(AggregatorWorker(pool, Aggregator(quorums, receipt_hash, CHAIN_ID), "agg", streams, sample_key=key))
    start = await stats.server_ms(pool.redis)

    async def executed(name: bytes, *, wrong_request: bool = False) -> types_pb2.ProvedReceipt:
        """A request appended to its cluster stream, and 30 ms later its receipt to the exec stream."""
        item = proved_receipt(hashlib.sha256(name + tag.encode()).digest())
        request = types_pb2.InferenceRequest()
        request.CopyFrom(item.request)
        if wrong_request:
            request.request_id = hashlib.sha256(b"another request").digest()
        cluster = requests_stream(item.receipt.route.cluster_id, streams.requests_prefix)
        item.request_entry_id = await _append(pool, cluster, request, request.request_id.hex())
        await asyncio.sleep(0.03)
        done = types_pb2.ExecutedReceipt(receipt=item.receipt, request=item.request, output=item.output)
        item.exec_entry_id = await _append(pool, streams.executed, done, "r")
        return item

    try:
        for w in workers:
            await w.start()
        good = await executed(b"latency good")
        wrong = await executed(b"latency wrong entry", wrong_request=True)  # the request entry holds another id
        bare = proved_receipt(hashlib.sha256(b"latency no ids" + tag.encode()).digest())  # carries no entry ids
        for item in (good, wrong, bare):
            await pool.publish(streams.proved, item, key=item.receipt.request_id.hex())
        for _ in range(600):
            if len(await pool.redis.xrange(streams.final)) == 3:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("not all three receipts were certified")
        [sample] = await read_one(pool, streams.latency, types_pb2.LatencySample)  # only the good one is measured
    finally:
        for w in workers:
            await w.stop()
    assert sample.request_id == good.receipt.request_id and sample.node_id == good.receipt.route.node_id
    assert sample.latency_ms == stats.entry_ms(good.exec_entry_id) - stats.entry_ms(good.request_entry_id) >= 30
    assert (sample.request_entry_id, sample.exec_entry_id) == (good.request_entry_id, good.exec_entry_id)
    assert stats.sample_signer(sample, CHAIN_ID) == bls.public_key(key)

    # a second copy of the same sample does not count twice; a sample an outsider signs claiming a lower latency
    # for the same request does not count at all
    await _append(pool, streams.latency, sample, sample.request_id.hex())
    forged = types_pb2.LatencySample()
    forged.CopyFrom(sample)
    forged.latency_ms = 1
    stats.sign_sample(forged, bls.keygen(b"not a registered validator key 0"), CHAIN_ID)
    await _append(pool, streams.latency, forged, sample.request_id.hex())
    end = await stats.server_ms(pool.redis)
    node = good.receipt.route.node_id
    signer = bytes.fromhex(Account.from_key(NODE_KEYS[node]).address[2:])
    reader = StatsReader(pool.redis, CHAIN_ID, heartbeats=f"t:{tag}:heartbeat", latency=streams.latency)
    validator_set = {v.pubkey for v in registry.validators}
    got = (await reader.read({node: Registration(signer, 0)}, start, end, validator_set))[node]
    assert (got.samples, got.p95_latency_ms) == (1, sample.latency_ms)
    await pool.close()
