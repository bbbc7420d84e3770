"""A byzantine executor on the real devnet: its tampered zk-tier output is never finalized, and it ends slashed.

The devnet runs without executors; the executor here is the real stream worker (`StreamWorker`, the cluster's
request stream, the executor consumer group, token chunks and the ExecutedReceipt as the service publishes
them) around a byzantine execution: it computes the devnet MLP, changes the label, and signs the receipt
for the changed output with the provisioned node key. The devnet's prover proves the true output instead and
publishes the evidence; the settler's challenge watcher calls Settlement.challengeZkOutput.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_executor import zk
from ax0n_executor.worker import Run, StreamWorker
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet
from ax0n_tools.devnet.provision import CLUSTER, PRICE_PER_1K
from web3 import HTTPProvider, Web3

from ax0n.llm.engine import OnText
from ax0n.mempool import Mempool, streams
from ax0n.mempool.entry import decode
from ax0n.mempool.streams import FAULTS
from ax0n.sdk import AsyncAx0nClient, Ax0nTimeoutError
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, mlp
from ax0n.zk.poseidon import to_bytes32
from tests.devnet.helpers import SlashBooks, node_heartbeats, route_on_fresh_snapshot, settler_challenges

DEADLINE_S = 15  # the client's signed deadline: the router answers DEADLINE_EXCEEDED then
SLASH_WAIT_S = 60


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("byzantine"), executors=0) as devnet:
        yield devnet


def byzantine(node_key: str, seen: list[types_pb2.InferenceRequest]) -> Run:
    """An executor run (`ax0n_executor.worker.Run`) that serves the devnet MLP with the label changed."""
    model = zk.load("devnet")

    async def run(req: types_pb2.InferenceRequest, on_text: OnText) -> tuple[types_pb2.Receipt, str]:
        seen.append(req)
        honest, output = zk.execute(model, req, PRICE_PER_1K, node_key)
        truth = mlp.Prediction.from_json(output)
        lie = mlp.Prediction((truth.label + 1) % len(truth.logits), truth.logits)
        honest.output_hash = to_bytes32(mlp.output_hash(lie))
        on_text(0, lie.to_json(), [])
        return receipts.sign(honest, node_key), lie.to_json()

    return run


@pytest.mark.timeout(400)
async def test_tampered_zk_output_is_not_finalized_and_the_operator_is_slashed(net: Devnet) -> None:
    state, prov = net.state, net.provisioned
    assert state is not None and prov is not None
    node_key = prov.node_key_file.read_text().strip()
    w3 = Web3(HTTPProvider(state.rpc_url))
    books = SlashBooks.open(net, w3)
    settlement = books.settlement

    seen: list[types_pb2.InferenceRequest] = []
    pool = Mempool.from_url(state.redis_url)
    worker = StreamWorker(byzantine(node_key, seen), pool, CLUSTER, "byzantine")
    worker_task = asyncio.create_task(worker.run())
    try:
        async with node_heartbeats(net):
            block = await route_on_fresh_snapshot(net, w3)
            options = demo.client_options(state) | {"deadline_s": DEADLINE_S}
            async with AsyncAx0nClient(state.router_target, **options) as client:
                with pytest.raises(Ax0nTimeoutError) as timed_out:
                    await client.infer(state.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
            assert timed_out.value.code == "DEADLINE_EXCEEDED"
            async with asyncio.timeout(SLASH_WAIT_S):
                while not (events := settlement.events.ZkOutputChallenged().get_logs(from_block=block)):
                    await asyncio.sleep(1)
    finally:
        worker.stop()
        await worker_task

    [req] = seen
    assert req.route.snapshot_block == block
    rid = bytes(req.request_id)
    [event] = events
    args = event["args"]
    books.assert_slashed(args, "zk_output")

    # the evidence: the signed receipt of the tampered output and a valid proof of the true one
    [(_, fields)] = await pool.redis.xrange(FAULTS)
    fault = decode(FAULTS, "0-0", fields, types_pb2.FaultRecord).message
    assert fault.receipt.request_id == rid and args["receiptHash"] == receipts.receipt_hash(fault.receipt)
    truth = mlp.devnet_model().forward(mlp.parse_features(demo.ZK_FEATURES))
    assert fault.true_output_hash == to_bytes32(mlp.output_hash(truth)) != fault.receipt.output_hash
    public = [int.from_bytes(w, "big") for w in fault.counter_proof.public_inputs]
    assert artifacts.load(artifacts.MLP).verify(fault.counter_proof.envelope, public)

    # never proved, never certified, never queued for settlement; the prover dead-lettered nothing
    for stream in (streams.PROVED, streams.FINAL):
        assert not [f for _, f in await pool.redis.xrange(stream) if f[b"key"] == rid.hex().encode()]
    assert not await pool.redis.xlen(streams.dead_letter_stream(streams.EXECUTED))
    await pool.close()

    gas = w3.eth.get_transaction_receipt(event["transactionHash"])["gasUsed"]
    print(f"\nchallengeZkOutput gas used on the devnet: {gas}")
    assert settler_challenges(state.services["settler"]["metrics"], "slashed") == 1
    log = (Path(prov.dir) / "logs" / "settler.log").read_text()
    assert f"request {rid.hex()}: operator {books.operator} slashed" in log
