"""A lower-precision executor on the real devnet: its LLM-tier receipt fails the validators' fingerprint re-check, the
quorum certifies it INVALID, and the operator ends slashed by Settlement.challengeQuorumFault.

The devnet runs without executors of the node (`executors=0`) but with the validators' own executor
(`reexecutor=True`), which they re-execute LLM-tier receipts on. The node's executor here is the real stream worker
(`StreamWorker`) around the real executor (`Executor`, `local`) running the committed LLM model in bfloat16, the
cheaper computation a node could be tempted to serve, and signing receipts that claim the registered float32
reference: tokens and text are what it generated, the fingerprint is the bf16 run's own. The validators' fp32
prefill finds the fingerprint outside the float32 tolerance; their aggregator publishes the INVALID certificate as a
FaultRecord, and the settler's challenge watcher has the same quorum sign the fault (`SignFault`) and slashes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_executor.executor import Executor
from ax0n_executor.worker import Run, StreamWorker, local
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet
from ax0n_tools.devnet.provision import CLUSTER, PRICE_PER_1K, LlmModel
from web3 import HTTPProvider, Web3

from ax0n.llm.engine import Engine, OnText
from ax0n.mempool import Mempool, streams
from ax0n.mempool.entry import decode
from ax0n.sdk import AsyncAx0nClient, Ax0nTimeoutError
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from tests.devnet.helpers import SlashBooks, node_heartbeats, route_on_fresh_snapshot, settler_challenges

DEADLINE_S = 20  # the client's signed deadline: the router answers DEADLINE_EXCEEDED then
SLASH_WAIT_S = 60
QUESTION = "Name three primary colors."


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("llm-fault"), executors=0, reexecutor=True) as d:
        yield d


def lower_precision(llm: LlmModel, node_key: str, seen: list[types_pb2.InferenceRequest]) -> Run:
    """An executor run that serves `llm` in bfloat16 and signs receipts claiming its registered float32 reference."""
    engine = Engine(llm.path, expected_commitment=llm.commitment, dtype="bfloat16")
    engine.dtype = "float32"  # computes in bf16, labels and fingerprints (fp32 profile) as float32
    execute = local(Executor({llm.model_id: engine}, node_key, {llm.model_id: PRICE_PER_1K}))

    async def run(req: types_pb2.InferenceRequest, on_text: OnText) -> tuple[types_pb2.Receipt, str]:
        seen.append(req)
        return await execute(req, on_text)

    return run


@pytest.mark.timeout(400)
async def test_fingerprint_fault_is_not_finalized_and_the_quorum_gets_the_operator_slashed(net: Devnet) -> None:
    state, prov = net.state, net.provisioned
    assert state is not None and prov is not None
    node_key = prov.node_key_file.read_text().strip()
    w3 = Web3(HTTPProvider(state.rpc_url))
    books = SlashBooks.open(net, w3)
    settlement = books.settlement

    seen: list[types_pb2.InferenceRequest] = []
    pool = Mempool.from_url(state.redis_url)
    worker = StreamWorker(lower_precision(prov.llm, node_key, seen), pool, CLUSTER, "lower-precision")
    worker_task = asyncio.create_task(worker.run())
    try:
        async with node_heartbeats(net, state.llm_model):
            block = await route_on_fresh_snapshot(net, w3, model_id=state.llm_model)
            options = demo.client_options(state) | {"deadline_s": DEADLINE_S}
            async with AsyncAx0nClient(state.router_target, **options) as client:
                with pytest.raises(Ax0nTimeoutError) as timed_out:
                    await client.infer(state.llm_model, messages=[{"role": "user", "content": QUESTION}], max_tokens=16)
            assert timed_out.value.code == "DEADLINE_EXCEEDED"
            assert "output produced but no quorum certificate by the deadline" in timed_out.value.message
            async with asyncio.timeout(SLASH_WAIT_S):
                while not (events := settlement.events.QuorumFaultChallenged().get_logs(from_block=block)):
                    await asyncio.sleep(1)
    finally:
        worker.stop()
        await worker_task

    [req] = seen
    assert req.route.snapshot_block == block
    rid = bytes(req.request_id)
    [event] = events
    args = event["args"]
    books.assert_slashed(args, "quorum_fault")

    # the evidence: the node's signed LLM-tier receipt and its quorum's INVALID certificate, for the fingerprint
    [(_, fields)] = await pool.redis.xrange(streams.FAULTS)
    fault = decode(streams.FAULTS, "0-0", fields, types_pb2.FaultRecord).message
    digest = receipts.receipt_hash(fault.receipt)
    assert fault.receipt.request_id == rid and fault.receipt.tier == types_pb2.TIER_LLM
    assert fault.receipt.reference.dtype == "float32" and args["receiptHash"] == digest
    assert fault.certificate.verdict == types_pb2.VERDICT_INVALID
    assert (fault.certificate.request_id, fault.certificate.receipt_hash) == (rid, digest)
    assert not fault.HasField("counter_proof") and not fault.HasField("conflicting")
    assert "fingerprint" in fault.reason, fault.reason

    # never certified VALID, never queued for settlement; nothing dead-lettered on the way
    assert not [f for _, f in await pool.redis.xrange(streams.FINAL) if f[b"key"] == rid.hex().encode()]
    for stream in (streams.EXECUTED, streams.FAULTS):
        assert not await pool.redis.xlen(streams.dead_letter_stream(stream))
    await pool.close()

    gas = w3.eth.get_transaction_receipt(event["transactionHash"])["gasUsed"]
    print(f"\nchallengeQuorumFault gas used on the devnet (4 validators): {gas}; fault reason: {fault.reason}")
    assert settler_challenges(state.services["settler"]["metrics"], "slashed") == 1
    log = (Path(prov.dir) / "logs" / "settler.log").read_text()
    assert f"request {rid.hex()}: operator {books.operator} slashed" in log
