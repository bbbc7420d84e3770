"""The executor's heartbeat component against a real redis-server: signed heartbeats on schedule, read as uptime."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest
from ax0n_executor.server import ExecutorSettings, HeartbeatComponent
from eth_account import Account
from eth_utils import keccak

from ax0n.mempool import connect
from ax0n.mempool import entry as wire
from ax0n.runtime import stats
from ax0n.runtime.stats import Registration, StatsParams, StatsReader
from ax0n.spec.routing import BPS
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY

PARAMS = StatsParams(heartbeat_interval_ms=20, liveness_slot_ms=100, max_skew_ms=100, settle_ms=20)


def test_node_id_flag() -> None:
    address = bytes.fromhex(Account.from_key(NODE_KEY).address[2:])
    assert ExecutorSettings(node_key=NODE_KEY).routing_node_id() == keccak(address)  # operator account signs
    assert ExecutorSettings(node_key=NODE_KEY, node_id="0x" + "ab" * 32).routing_node_id() == b"\xab" * 32
    with pytest.raises(ValueError, match="bad --node-id 'abc'"):
        ExecutorSettings(node_key=NODE_KEY, node_id="abc").routing_node_id()


async def test_heartbeats_are_signed_on_schedule_and_give_full_uptime(redis_url: str) -> None:
    stream = f"t:{uuid.uuid4().hex[:8]}:heartbeat"
    # 100 ms heartbeats, one-second slots and skew bound: full uptime unless this process stalls for a second
    params = dataclasses.replace(PARAMS, heartbeat_interval_ms=100, liveness_slot_ms=1_000, max_skew_ms=1_000)
    settings = ExecutorSettings(
        redis_url=redis_url, node_key=NODE_KEY, heartbeat_interval_ms=params.heartbeat_interval_ms
    )
    component = HeartbeatComponent(settings, lambda: ["tiny"], lambda: 2, params=params, stream=stream)
    client = connect(redis_url)
    try:
        start = await stats.server_ms(client)
        await component.start()
        await asyncio.sleep(2.5)
        await component.stop()
        end = await stats.server_ms(client)
        rows = await client.xrange(stream)
        assert 5 <= len(rows) <= 26  # every 100 ms over 2.5 s: a late beat is not made up for by a burst
        address = bytes.fromhex(Account.from_key(NODE_KEY).address[2:])
        for entry_id, fields in rows:
            hb = wire.decode(stream, entry_id.decode(), fields, types_pb2.Heartbeat).message
            assert stats.heartbeat_signer(hb) == address and hb.chain_id == 31_337
            assert bytes(hb.node_id) == keccak(address) and (list(hb.models), hb.in_flight) == (["tiny"], 2)
            assert abs(stats.entry_ms(entry_id) - hb.signed_ms) <= params.max_skew_ms
        reader = StatsReader(client, 31_337, params, heartbeats=stream, latency=f"{stream}:latency")
        got = await reader.read({keccak(address): Registration(address, 0)}, start, end)
        assert got[keccak(address)].uptime_bps == BPS
    finally:
        await client.aclose()


def test_heartbeat_component_is_on_by_default_and_off_at_zero(tiny_dir, tiny) -> None:
    from ax0n_executor.server import build

    models = f"tiny={tiny_dir}@0x{tiny.commitment.hex()}"
    on = build(ExecutorSettings(models=models, node_key=NODE_KEY)).components
    assert [type(c).__name__ for c in on] == ["WorkerComponent", "HeartbeatComponent"]
    off = build(ExecutorSettings(models=models, node_key=NODE_KEY, heartbeat_interval_ms=0)).components
    assert [type(c).__name__ for c in off] == ["WorkerComponent"]
