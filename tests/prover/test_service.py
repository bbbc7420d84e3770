"""The prover service parts on real Redis and a real gRPC server: stream in, proofs out, failures dead-lettered."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from ax0n_prover.core import ReceiptProver
from ax0n_prover.server import ExecutedConsumer, ProverServicer, load_models
from ax0n_prover.settings import ProverSettings
from ax0n_tools.devnet.redis import RedisServer

from ax0n.mempool import Mempool, streams
from ax0n.mempool.entry import decode
from ax0n.v1 import prover_pb2, prover_pb2_grpc, types_pb2
from ax0n.zk.artifacts import Artifacts
from ax0n.zk.mlp import Prediction, QuantizedMLP
from tests.prover.helpers import executed, llm_executed


async def _read_all(pool: Mempool, stream: str, want: int, timeout: float = 120) -> list[dict[bytes, bytes]]:
    async with asyncio.timeout(timeout):
        while True:
            entries = await pool.redis.xrange(stream)
            if len(entries) >= want:
                return [fields for _, fields in entries]
            await asyncio.sleep(0.2)


async def test_exec_stream_to_proved_stream(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    with RedisServer() as server:
        pool = Mempool.from_url(server.url)
        consumer = ExecutedConsumer(pool, ReceiptProver(mlp_artifacts, load_models([])), "p1", concurrency=2)
        good = executed(model, [9] * 16)
        llm = llm_executed()
        bad = executed(model, [-9] * 16)
        true = Prediction.from_json(bad.output)
        bad.output = Prediction((true.label + 1) % 10, true.logits).to_json()
        for key, msg in (("good", good), ("llm", llm), ("bad", bad)):
            await pool.publish(streams.EXECUTED, msg, key=key)
        await consumer.start()
        try:
            proved = await _read_all(pool, streams.PROVED, 2)
            dead = await _read_all(pool, streams.dead_letter_stream(streams.EXECUTED), 1)
        finally:
            await consumer.stop()
            await pool.close()
    by_key = {}
    for fields in proved:
        item = decode(streams.PROVED, "0-0", fields, types_pb2.ProvedReceipt)
        by_key[item.key] = item.message
    assert set(by_key) == {"good", "llm"}
    proof = by_key["good"].proof
    public = [int.from_bytes(w, "big") for w in proof.public_inputs]
    assert mlp_artifacts.verify(proof.envelope, public)
    assert not by_key["llm"].HasField("proof")
    assert b"not what the committed model computes" in dead[0][b"dead_reason"]


@pytest.mark.slow
async def test_verify_over_grpc(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    server = grpc.aio.server()
    prover_pb2_grpc.add_ProverServicer_to_server(
        ProverServicer(ProverSettings(profile="devnet"), [mlp_artifacts]), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        proof = ReceiptProver(mlp_artifacts, load_models([])).prove(executed(model, [9] * 16)).proof
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prover_pb2_grpc.ProverStub(channel)
            ok = await stub.Verify(prover_pb2.VerifyRequest(proof=proof))
            assert ok.valid, ok.reason
            tampered = types_pb2.Proof()
            tampered.CopyFrom(proof)
            tampered.public_inputs[2] = (6).to_bytes(32, "big")  # the output hash
            bad = await stub.Verify(prover_pb2.VerifyRequest(proof=tampered))
            assert not bad.valid and bad.reason
            garbage = await stub.Verify(
                prover_pb2.VerifyRequest(proof=types_pb2.Proof(envelope=b"x", circuit_id="mlp"))
            )
            assert not garbage.valid
            unknown = await stub.Verify(prover_pb2.VerifyRequest(proof=proof, circuit_id="batch16"))
            assert not unknown.valid and "unknown circuit" in unknown.reason
    finally:
        await server.stop(None)
