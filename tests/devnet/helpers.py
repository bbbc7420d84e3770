"""Helpers shared by the devnet tests that challenge a node on-chain."""

from __future__ import annotations

import asyncio

import grpc
from web3 import Web3

from ax0n.devnet.network import Devnet
from ax0n.devnet.snapshots import export
from ax0n.v1 import router_pb2_grpc, types_pb2


async def route_on_fresh_snapshot(net: Devnet, w3: Web3, timeout_s: float = 30.0) -> int:
    """Export a snapshot at the current block and wait until the router routes with it; returns its block.

    A receipt can be challenged only for `slash_window` (20) blocks after its route's snapshot block, so a test
    that ends in a challenge routes on a fresh snapshot rather than wait for the devnet's next 16-block export."""
    prov, state = net.provisioned, net.state
    assert prov is not None and state is not None
    block = export(w3, prov.manifest, prov.dir, prov.snapshot_template)
    async with asyncio.timeout(timeout_s), grpc.aio.insecure_channel(state.router_target) as channel:
        router = router_pb2_grpc.RouterStub(channel)
        while int((await router.Status(types_pb2.StatusRequest(), timeout=10)).details["snapshot_block"]) != block:
            await asyncio.sleep(0.5)
    return block
