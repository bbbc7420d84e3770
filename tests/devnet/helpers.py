"""Shared steps of the devnet tests whose executor is the test's own (Devnet(executors=0))."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc
from ax0n_executor.server import ExecutorSettings, HeartbeatComponent
from web3 import Web3

from ax0n.devnet.network import Devnet
from ax0n.v1 import router_pb2, router_pb2_grpc


@contextlib.asynccontextmanager
async def node_heartbeats(net: Devnet, model_id: str = "") -> AsyncIterator[None]:
    """The provisioned node's signed heartbeats, as its executor service would send them, naming `model_id` (default:
    the zk-tier model) as served: a test that serves the node's cluster with its own worker must send them too, or the
    node is never live enough to be routed."""
    state, prov = net.state, net.provisioned
    assert state is not None and prov is not None
    served = [model_id or state.zk_model]
    settings = ExecutorSettings(
        redis_url=state.redis_url,
        node_key=prov.node_key_file.read_text().strip(),
        node_id=prov.node_id.hex(),
        chain_id=state.chain_id,
        profile="devnet",
    )
    heartbeats = HeartbeatComponent(settings, lambda: served, lambda: 0)
    await heartbeats.start()
    try:
        yield
    finally:
        await heartbeats.stop()


async def route_on_fresh_snapshot(net: Devnet, w3: Web3, timeout_s: float = 120.0, model_id: str = "") -> int:
    """Wait until the router routes `model_id` (default: the zk-tier model) on a snapshot rebuilt after this call;
    returns its block.

    A receipt can be challenged only for `slash_window` blocks after its route's snapshot block, and the router
    rebuilds every 16 blocks, so a test that ends in a challenge routes on a fresh snapshot. The wait also covers
    the node becoming routable (live in at least half of its stats window since it registered)."""
    state = net.state
    assert state is not None
    after = w3.eth.block_number
    probe = router_pb2.RouteRequest(request_id=b"\0" * 32, model_id=model_id or state.zk_model)
    async with asyncio.timeout(timeout_s), grpc.aio.insecure_channel(state.router_target) as channel:
        router = router_pb2_grpc.RouterStub(channel)
        while True:
            try:
                decision = await router.Route(probe, timeout=10)
                if decision.snapshot_block > after:
                    return decision.snapshot_block
            except grpc.aio.AioRpcError:
                pass  # no snapshot yet, or the node not routable yet
            await asyncio.sleep(0.5)
