"""Routing snapshots rebuilt from NodeRegistry and the node stats streams: the router's and a validator's agree,
and a node that sends no heartbeats is not routed (anvil, Redis, the deployed contracts)."""

from __future__ import annotations

import asyncio
import time

import pytest
from ax0n_router.snapshots import SnapshotRefresher
from ax0n_tools.devnet.anvil import Anvil
from ax0n_validator.snapshots import ChainSnapshots
from eth_account import Account

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.chain.registration import signing_key_proof
from ax0n.mempool import connect
from ax0n.runtime import stats
from ax0n.runtime.snapshots import SnapshotBuilder, rebuild_block
from ax0n.spec.params import DEVNET
from ax0n.spec.routing import build_index, route

INTERVAL = DEVNET.routing_rebuild_interval
PARAMS = stats.StatsParams(
    heartbeat_interval_ms=100, liveness_slot_ms=500, max_skew_ms=1_000, settle_ms=200, window_ms=3_000
)
MODEL = "m-a"


@pytest.fixture(scope="module")
def model_manifest(anvil: Anvil) -> Manifest:
    spec = ModelSpec(model_key(MODEL), b"\x11" * 32, "llm", 1_000, b"\0" * 32, 10**15)
    return deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET, models=(spec,))


async def test_router_and_validator_rebuild_the_same_snapshot(
    anvil: Anvil, model_manifest: Manifest, redis_url: str
) -> None:
    w3 = anvil.web3
    deployer = Signer.from_key(w3, anvil.accounts[0].key)
    token, nodes = model_manifest.contract(w3, "Ax0nToken"), model_manifest.contract(w3, "NodeRegistry")
    keys = {cluster: Account.create() for cluster in ("east", "west")}
    operators = dict(zip(keys, (Signer.from_key(w3, a.key) for a in anvil.accounts[6:8]), strict=True))
    for cluster, op in operators.items():
        deployer.transact(token.functions.transfer(op.address, DEVNET.min_node_stake))
        op.transact(token.functions.approve(nodes.address, DEVNET.min_node_stake))
        proof = signing_key_proof(keys[cluster].key, op.address, w3.eth.chain_id, nodes.address)
        op.transact(
            nodes.functions.register(
                DEVNET.min_node_stake, [model_key(MODEL)], "grpc://n", keys[cluster].address, cluster, proof
            )
        )
    live = w3.keccak(hexstr=operators["east"].address)  # the routing node id: keccak256(operator)
    silent = w3.keccak(hexstr=operators["west"].address)

    client = connect(redis_url)
    deadline = time.monotonic() + 3.5  # heartbeats from "east" only, over more than the stats window
    while time.monotonic() < deadline:
        beat = stats.sign_heartbeat(live, time.time_ns() // 1_000_000, anvil.chain_id, keys["east"].key.hex())
        await stats.publish_heartbeat(client, beat)
        await asyncio.sleep(PARAMS.heartbeat_interval_ms / 1_000)
    head = w3.eth.block_number
    anvil.mine(INTERVAL - head % INTERVAL)  # the next rebuild block, mined after the heartbeats
    block = rebuild_block(w3.eth.block_number, INTERVAL)
    assert block > head

    _, snapshot = await SnapshotBuilder(w3, model_manifest, client, anvil.chain_id, PARAMS).build(block)
    by_id = {n.node_id: n for n in snapshot.nodes}
    # live enough to be routed (a stall of this process may cost it a slot), the silent node not at all
    assert by_id[live].stats.uptime_bps >= snapshot.weights.min_uptime_bps and by_id[silent].stats.uptime_bps == 0
    index = build_index(snapshot)
    assert {route(index, bytes([i]) * 32, MODEL).node_id for i in range(32)} == {live}  # never the silent node

    refresher = SnapshotRefresher(SnapshotBuilder(w3, model_manifest, client, anvil.chain_id, PARAMS), w3, INTERVAL)
    assert await refresher.step() and not await refresher.step()  # built once per rebuild block
    assert refresher.snapshot().hash() == snapshot.hash()

    validator = ChainSnapshots(anvil.rpc_url, model_manifest, redis_url, anvil.chain_id, PARAMS, INTERVAL)
    rebuilt = await asyncio.to_thread(validator.get, block)  # built on demand: the validator's own reads
    assert rebuilt is not None and rebuilt.routing.snapshot_hash == snapshot.hash()
    assert rebuilt.node_signers[live] == bytes.fromhex(keys["east"].address[2:])
    assert validator.get(block + 1) is None  # not a rebuild block: a route naming it is wrong
    assert validator.get(block + 10 * INTERVAL) is None  # not mined yet
    await client.aclose()
