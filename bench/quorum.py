"""MeshSync quorum costs: BLS sign / aggregate / verify for 256 signers, and submit → certificate latency.

Draws a 256-seat quorum from 1,024 registered validators (real BLS keys), times each step, then runs four
attester clients (256 keys each) and an aggregator over a redis-server it starts, and measures the time
from publishing a proved receipt to its certificate on the final stream. Prints, last, the ratio of the
seed's 1.2 s finality to the measured median (above 1: faster than the seed).

Every member runs the real checks on a zk-tier receipt: the NeuralRoute route, the node's secp256k1
signature over the EIP-712 receipt hash (ax0n.spec.receipt) and the Groth16 proof of ProofCore's devnet MLP
(artifacts built once under .cache/artifacts); see tests/validator/scenario.py.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ax0n_tools.devnet.redis import RedisServer
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.workers import AggregatorWorker, Attester, Streams

from ax0n.mempool import Mempool
from ax0n.spec import bls, committee
from ax0n.spec import certificate as qc
from ax0n.spec.params import MAINNET
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from tests.validator.helpers import CHAIN_ID, SNAPSHOT_BLOCK, SNAPSHOT_HASH, make_registry
from tests.validator.scenario import (
    FEATURES,
    MLP_MODEL,
    Validators,
    proved_receipt,
    receipt_hash,
    with_claims,
    zk_checks,
)

SEED_FINALITY_S = 1.2
QUORUM = MAINNET.validator_quorum_size


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.2f} ms"


def crypto(validators: Validators, rounds: int) -> None:
    registry = validators.registry
    started = time.perf_counter()
    members = committee.request_quorum(registry.validators, SNAPSHOT_HASH, b"\x07" * 32, QUORUM)
    print(f"draw quorum ({QUORUM} of {len(registry.validators)}):      {ms(time.perf_counter() - started)}")
    quorum = qc.Committee.draw(registry.validators, members, SNAPSHOT_BLOCK)
    message = qc.attestation_signing_root(b"\x07" * 32, b"\x08" * 32, qc.VALID, SNAPSHOT_BLOCK, CHAIN_ID)
    sign, agg, verify, cold, grouped = [], [], [], [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        sigs = {s: bls.sign(registry.secrets[quorum.members[s]], message) for s in range(QUORUM)}
        t1 = time.perf_counter()
        aggregate = bls.aggregate([sigs[s] for s in range(QUORUM)])
        t2 = time.perf_counter()
        cert = qc.certificate_from_aggregate(
            quorum, b"\x07" * 32, b"\x08" * 32, qc.VALID, CHAIN_ID, range(QUORUM), aggregate
        )
        bls._g1.cache_clear()
        t3 = time.perf_counter()
        qc.verify_certificate(cert, quorum, CHAIN_ID)
        t4 = time.perf_counter()
        qc.verify_certificate(cert, quorum, CHAIN_ID)
        t5 = time.perf_counter()
        parts = [
            bls.sign_many([registry.secrets[quorum.members[s]] for s in range(i, QUORUM, 4)], message) for i in range(4)
        ]
        t6 = time.perf_counter()
        assert bls.aggregate(parts) == aggregate
        sign.append(t1 - t0)
        agg.append(t2 - t1)
        cold.append(t4 - t3)
        verify.append(t5 - t4)
        grouped.append(t6 - t5)
    print(
        f"sign {QUORUM} attestations, one per seat:  {ms(statistics.median(sign))}  ({ms(statistics.median(sign) / QUORUM).strip()} each)"
    )
    print(f"sign {QUORUM} seats as 4 clients (Σ sk):   {ms(statistics.median(grouped))}  (one signing per client)")
    print(f"aggregate {QUORUM} signatures:              {ms(statistics.median(agg))}")
    print(f"verify certificate, key cache cold:  {ms(statistics.median(cold))}  (one fast-aggregate-verify)")
    print(f"verify certificate, key cache warm:  {ms(statistics.median(verify))}")


async def latency(validators: Validators, requests: int) -> list[float]:
    mlp = artifacts.load(artifacts.MLP)
    prediction = MLP_MODEL.forward(FEATURES)
    proof = mlp.prove(MLP_MODEL.circuit_inputs(FEATURES, prediction))  # one proof serves every request: same input
    tag = uuid.uuid4().hex[:8]
    streams = Streams(f"b:{tag}:proved", f"b:{tag}:att", f"b:{tag}:final", f"b:{tag}:fault")
    with RedisServer() as server:
        pool = Mempool.from_url(server.url)
        quorums = Quorums(validators.sets)  # one per process, shared by its clients and aggregator
        workers = [
            Attester(pool, ValidatorClient(ks, quorums, zk_checks(mlp), receipt_hash, CHAIN_ID), f"v{i}", streams)
            for i, ks in enumerate(validators.keystores(4))
        ]
        workers.append(AggregatorWorker(pool, Aggregator(quorums, receipt_hash, CHAIN_ID), "agg", streams))
        for w in workers:
            await w.start()
        out = []
        try:
            for i in range(requests):
                item = proved_receipt(hashlib.sha256(f"bench {tag} {i}".encode()).digest())
                item = with_claims(item, prediction, proof, mlp)
                before = await pool.redis.xlen(streams.final)
                started = time.perf_counter()
                await pool.publish(streams.proved, item, key=item.receipt.request_id.hex())
                while await pool.redis.xlen(streams.final) == before:
                    await asyncio.sleep(0.002)
                out.append(time.perf_counter() - started)
            last = types_pb2.FinalizedReceipt.FromString((await pool.redis.xrange(streams.final))[-1][1][b"data"])
            assert int(last.certificate.signed_weight) * 3 >= 2 * QUORUM
        finally:
            for w in workers:
                await w.stop()
            await pool.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 crypto rounds, 5 requests")
    quick = parser.parse_args().quick
    started = time.perf_counter()
    validators = Validators(make_registry(1_024))
    print(f"registry: 1,024 BLS validators generated in {time.perf_counter() - started:.1f} s")
    crypto(validators, 3 if quick else 10)
    times = asyncio.run(latency(validators, 5 if quick else 30))
    p50 = statistics.median(times)
    print(
        f"submit → certificate over redis (4 attesters x 256 keys, 1 aggregator, one process): p50 {ms(p50)}, max {ms(max(times))}"
    )
    print(f"ratio seed finality 1.2 s / measured p50: {SEED_FINALITY_S / p50:.2f}")


if __name__ == "__main__":
    main()
