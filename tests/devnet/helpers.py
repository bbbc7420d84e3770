"""Shared steps of the devnet tests whose executor is the test's own (Devnet(executors=0))."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
from ax0n_executor.server import ExecutorSettings, HeartbeatComponent
from ax0n_tools.devnet.network import Devnet
from eth_account import Account
from prometheus_client.parser import text_string_to_metric_families
from web3 import Web3
from web3.contract import Contract

from ax0n.spec.params import DEVNET
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


@dataclass(frozen=True, slots=True)
class SlashBooks:
    """The provisioned operator's stake and the settler's credits before a challenge, to check after it that the
    operator lost its fault class's share of its stake and the settler got the challenger's reward."""

    nodes: Contract
    settlement: Contract
    operator: str
    settler: str
    stake: int
    credits: int

    @classmethod
    def open(cls, net: Devnet, w3: Web3) -> SlashBooks:
        prov = net.provisioned
        assert prov is not None
        operator = Account.from_key((prov.node_key_file.parent / "operator.key").read_text().strip()).address
        settler = Account.from_key(prov.settler_key_file.read_text().strip()).address
        nodes, settlement = prov.manifest.contract(w3, "NodeRegistry"), prov.manifest.contract(w3, "Settlement")
        stake, credits = nodes.functions.node(operator).call()[0], settlement.functions.credits(settler).call()
        assert stake >= DEVNET.min_node_stake and nodes.functions.isActive(operator).call()
        return cls(nodes, settlement, operator, settler, stake, credits)

    def assert_slashed(self, args: Any, fault: str) -> None:
        """`args` of a Settlement *Challenged event: the operator slashed `fault`'s ratio of its stake (inactive once
        below min_node_stake), the settler (the challenger) credited the challenger's share of it."""
        assert (args["operator"], args["challenger"]) == (self.operator, self.settler)
        slashed, reward = DEVNET.slash_amount(fault, self.stake)
        assert (args["slashed"], args["reward"]) == (slashed, reward) and reward > 0
        assert self.nodes.functions.node(self.operator).call()[0] == self.stake - slashed
        active = self.stake - slashed >= DEVNET.min_node_stake
        assert self.nodes.functions.isActive(self.operator).call() == active
        assert self.settlement.functions.credits(self.settler).call() == self.credits + reward


def settler_challenges(port: int | None, outcome: str) -> float:
    """`ax0n_settler_challenges_total{outcome=...}` from the settler's Prometheus endpoint; 0 when absent."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        families = text_string_to_metric_families(resp.read().decode())
    samples = [
        s.value
        for f in families
        for s in f.samples
        if s.name == "ax0n_settler_challenges_total" and s.labels.get("outcome") == outcome
    ]
    return samples[0] if samples else 0.0
