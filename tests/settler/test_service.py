"""Intake from ax0n:final through the mempool consumer, then Settler.GetSettlement over gRPC."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import redis
from ax0n_settler import intake
from ax0n_settler.chain import abi
from ax0n_settler.journal import Journal
from ax0n_settler.server import IntakeComponent, SettlerServicer
from ax0n_settler.settings import SettlerSettings
from ax0n_tools.devnet.anvil import Anvil
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ax0n.mempool import Consumer, Mempool, streams
from ax0n.mempool.streams import dead_letter_stream
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import verify_inclusion
from ax0n.v1 import settler_pb2, settler_pb2_grpc, types_pb2
from tests.settler.helpers import Deployment, finalized, intake_check
from tests.settler.test_settle import make_settler


async def test_intake_then_get_settlement(
    anvil: Anvil,
    deployment: Deployment,
    journal: Journal,
    rclient: redis.Redis,
    redis_url: str,
    spans: InMemorySpanExporter,
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(5)]
    bad = finalized(d, 99, d.signers[0], d.clients[0])
    bad.certificate.verdict = types_pb2.VERDICT_INVALID
    stream = f"{journal.p}:final"  # the service reads streams.FINAL; a per-test stream keeps tests apart
    pool = Mempool.from_url(redis_url)
    for f in [*finals, finals[0], bad]:  # a duplicate publish and an unsettleable receipt
        await pool.publish(stream, f, key=f.receipt.request_id.hex())
    check = intake_check(d)
    consumer = Consumer(
        pool, stream, streams.SETTLER_GROUP, "t", types_pb2.FinalizedReceipt, intake.handler(journal.queue, check),
        block_ms=50,
    )  # fmt: skip
    component = IntakeComponent(consumer, pool)
    await component.start()
    for _ in range(100):
        if rclient.xlen(journal.queue) >= 5 and rclient.xlen(dead_letter_stream(stream)) >= 1:
            break
        await asyncio.sleep(0.05)
    await component.stop()
    assert rclient.xlen(journal.queue) == 5
    assert rclient.xlen(dead_letter_stream(stream)) == 1

    settler = make_settler(d, journal)
    for _ in range(10):
        await asyncio.to_thread(settler.tick)
        anvil.mine()
    [build] = [x for x in spans.get_finished_spans() if x.name == "settler build batch"]
    intake_traces = {x.context.trace_id for x in spans.get_finished_spans() if x.name == f"{stream} process"}
    assert len(build.links) == 5 and {link.context.trace_id for link in build.links} <= intake_traces
    root = int.from_bytes(d.w3.eth.contract(d.settlement, abi=abi("Settlement")).functions.batches(1).call()[0], "big")

    server = grpc.aio.server()
    servicer = SettlerServicer(SettlerSettings(profile="devnet"), journal, None)
    settler_pb2_grpc.add_SettlerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = settler_pb2_grpc.SettlerStub(channel)
            for f in finals:
                s = await stub.GetSettlement(settler_pb2.GetSettlementRequest(request_id=f.receipt.request_id))
                assert s.state == "confirmed" and s.batch_seq == 1 and int.from_bytes(s.batch_root, "big") == root
                tx = d.w3.eth.get_transaction_receipt(s.tx_hash)
                assert tx["blockNumber"] == s.block_number and tx["to"] == d.settlement
                leaf = journal.get(1).leaves[s.leaf_index]
                path = [int.from_bytes(h, "big") for h in s.merkle_path]
                assert len(path) == 4  # devnet batches: 16-leaf tree
                assert verify_inclusion(leaf, s.leaf_index, path, root)
                assert not verify_inclusion(leaf, s.leaf_index ^ 1, path, root)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetSettlement(settler_pb2.GetSettlementRequest(request_id=bad.receipt.request_id))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(None)
    assert DEVNET.max_batch_size == 16
