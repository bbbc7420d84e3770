"""An equivocating executor on the real devnet: it signs two different receipts for one request. The first is
certified and served to the client as usual; the validators' aggregator turns the second into equivocation
evidence, and the settler's challenge watcher gets the operator slashed by Settlement.challengeEquivocation.

The devnet runs without executors; the executor here consumes the cluster's request stream with the executor
consumer group and publishes token chunks and ExecutedReceipts as the real worker does, but two receipts per
request (honest output, different timings), each keyed by its own hash as the real worker keys them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from ax0n_executor import zk
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet
from ax0n_tools.devnet.provision import CLUSTER, PRICE_PER_1K
from eth_account import Account
from web3 import HTTPProvider, Web3

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.mempool.streams import EXECUTED, EXECUTOR_GROUP, requests_stream, tokens_stream
from ax0n.sdk import AsyncAx0nClient
from ax0n.spec import receipt as receipts
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from tests.devnet.helpers import node_heartbeats, route_on_fresh_snapshot

SLASH_WAIT_S = 60


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("equivocation"), executors=0) as devnet:
        yield devnet


def equivocating(pool: Mempool, node_key: str) -> Consumer[types_pb2.InferenceRequest]:
    model = zk.load("devnet")

    async def handle(entry: Entry[types_pb2.InferenceRequest]) -> list[Outbound]:
        req = entry.message
        rid = bytes(req.request_id)
        first, output = zk.execute(model, req, PRICE_PER_1K, node_key)
        second = types_pb2.Receipt()
        second.CopyFrom(first)
        second.timings.total_ms = first.timings.total_ms + 1  # any other signed field makes another receipt
        second = receipts.sign(second, node_key)
        chunk = types_pb2.TokenChunk(request_id=rid, index=0, delta=output)
        done = types_pb2.TokenChunk(request_id=rid, index=1, done=True, finish_reason="stop")
        return [
            Outbound(tokens_stream(rid), chunk, rid.hex()),
            *(
                Outbound(
                    EXECUTED,
                    types_pb2.ExecutedReceipt(receipt=r, request=req, output=output),
                    receipts.receipt_hash(r).hex(),
                )
                for r in (first, second)
            ),
            Outbound(tokens_stream(rid), done, rid.hex() + ":done"),
        ]

    return Consumer(pool, requests_stream(CLUSTER), EXECUTOR_GROUP, "equivocating", types_pb2.InferenceRequest, handle)


@pytest.mark.timeout(400)
async def test_an_equivocating_node_serves_once_and_ends_slashed(net: Devnet) -> None:
    state, prov = net.state, net.provisioned
    assert state is not None and prov is not None
    operator = Account.from_key((prov.node_key_file.parent / "operator.key").read_text().strip()).address
    w3 = Web3(HTTPProvider(state.rpc_url))
    nodes, settlement = prov.manifest.contract(w3, "NodeRegistry"), prov.manifest.contract(w3, "Settlement")
    stake_before = nodes.functions.node(operator).call()[0]

    pool = Mempool.from_url(state.redis_url)
    executor = equivocating(pool, prov.node_key_file.read_text().strip())
    task = asyncio.create_task(executor.run())
    try:
        async with node_heartbeats(net):
            block = await route_on_fresh_snapshot(net, w3)
            async with AsyncAx0nClient(state.router_target, **demo.client_options(state)) as client:
                result = await client.infer(state.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
            assert result.certificate is not None and result.verification is not None  # served as usual
            async with asyncio.timeout(SLASH_WAIT_S):
                while not (events := settlement.events.EquivocationChallenged().get_logs(from_block=block)):
                    await asyncio.sleep(1)
    finally:
        executor.stop()
        await task
        await pool.close()
    [event] = events
    assert event["args"]["operator"] == operator and event["args"]["requestId"] == bytes(result.request_id)
    assert (
        nodes.functions.node(operator).call()[0] == stake_before - DEVNET.slash_amount("equivocation", stake_before)[0]
    )
