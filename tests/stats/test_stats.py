"""The stats pipeline against a real redis-server: signed heartbeats -> uptime, latency samples -> p95."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from eth_account import Account
from eth_account.messages import encode_typed_data
from redis.exceptions import ResponseError

from ax0n.mempool import connect
from ax0n.mempool import entry as wire
from ax0n.runtime import stats
from ax0n.runtime.stats import Registration, StatsParams, StatsReader
from ax0n.spec import bls
from ax0n.spec.routing import BPS, NodeStats
from ax0n.v1 import types_pb2

CHAIN_ID = 31_337
# fast clocks for tests: 20 ms heartbeats, 200 ms slots; the defaults are seconds
PARAMS = StatsParams(heartbeat_interval_ms=20, liveness_slot_ms=200, max_skew_ms=100, settle_ms=20)
KEYS = {name: hashlib.sha256(name.encode()).digest() for name in ("a", "b", "c", "intruder")}
IDS = {name: hashlib.sha256(b"node " + name.encode()).digest() for name in KEYS}


def address(name: str) -> bytes:
    return bytes.fromhex(Account.from_key(KEYS[name]).address[2:])


def registered(*names: str, at_ms: int = 0) -> dict[bytes, Registration]:
    return {IDS[n]: Registration(address(n), at_ms) for n in names}


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.Redis]:
    c = connect(redis_url)
    yield c
    await c.aclose()


@pytest.fixture
def names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"t:{tag}:heartbeat", f"t:{tag}:latency"


async def beat(client: redis.Redis, stream: str, name: str, *, signed_ms: int | None = None, key: str = "") -> int:
    """Append a heartbeat of node `name` signed by `key` (default its own) at `signed_ms` (default now)."""
    now = await stats.server_ms(client)
    hb = stats.sign_heartbeat(IDS[name], now if signed_ms is None else signed_ms, CHAIN_ID, KEYS[key or name])
    return stats.entry_ms(await stats.publish_heartbeat(client, hb, stream=stream))


def test_heartbeat_signature_is_eip712_and_binds_its_fields() -> None:
    hb = stats.sign_heartbeat(IDS["a"], 1_700_000_000_123, CHAIN_ID, KEYS["a"], models=["m"], in_flight=3)
    m = encode_typed_data(full_message=stats.typed_data(hb))
    assert Account.recover_message(m, signature=hb.signature) == Account.from_key(KEYS["a"]).address
    assert stats.heartbeat_signer(hb) == address("a")
    hb.in_flight = 9  # informational: not signed
    assert stats.heartbeat_signer(hb) == address("a")
    for change in ({"signed_ms": hb.signed_ms + 1}, {"chain_id": 1}, {"node_id": IDS["b"]}):
        other = types_pb2.Heartbeat()
        other.CopyFrom(hb)
        for field, value in change.items():
            setattr(other, field, value)
        assert stats.heartbeat_signer(other) != address("a")


async def test_uptime_full_for_a_live_node_and_falling_for_a_stopped_one(client: redis.Redis, names) -> None:
    heartbeats, latency = names
    # one-second slots and skew bound: a heartbeat every 20 ms then misses a slot only if this process stalls
    # for a whole second (the test runs beside other processes on 2 cores)
    params = dataclasses.replace(PARAMS, liveness_slot_ms=1_000, max_skew_ms=1_000)
    slot = params.liveness_slot_ms
    first = await beat(client, heartbeats, "a")
    start = first - first % slot  # a slot boundary, so every slot of the window is whole
    stop_b = start + 2 * slot  # b heartbeats through slots 0..1 of 4, then stops
    end = start + 4 * slot
    while (now := await stats.server_ms(client)) <= end:
        await beat(client, heartbeats, "a")
        if now < stop_b - 300:  # well before the boundary: b's last beat stays in slot 1
            await beat(client, heartbeats, "b")
        await asyncio.sleep(params.heartbeat_interval_ms / 1_000)
    reader = StatsReader(client, CHAIN_ID, params, heartbeats=heartbeats, latency=latency)
    got = await reader.read(registered("a", "b", "c"), start, end)
    assert got[IDS["a"]] == NodeStats(uptime_bps=BPS)
    assert got[IDS["b"]].uptime_bps == BPS // 2  # live in 2 of the 4 slots
    assert got[IDS["c"]] == NodeStats()  # registered, never heartbeat
    # registered halfway: counted from its registration, b was never live
    late = await reader.read({IDS["b"]: Registration(address("b"), stop_b)}, start, end)
    assert late[IDS["b"]].uptime_bps == 0


async def test_forged_replayed_and_foreign_heartbeats_do_not_count(client: redis.Redis, names) -> None:
    heartbeats, latency = names
    params = dataclasses.replace(PARAMS, liveness_slot_ms=1_000, max_skew_ms=1_000)  # robust to stalls < 1 s
    slot = params.liveness_slot_ms
    first = await beat(client, heartbeats, "b")
    kept = stats.sign_heartbeat(IDS["a"], first, CHAIN_ID, KEYS["a"])  # a's genuine heartbeat, kept for later
    start = first - first % slot + 2 * slot  # > first + max_skew_ms
    end = start + 3 * slot
    while await stats.server_ms(client) <= end:
        await beat(client, heartbeats, "a", key="intruder")  # a's node id, the wrong key
        await stats.publish_heartbeat(client, kept, stream=heartbeats)  # replayed: signed long before its append
        foreign = stats.sign_heartbeat(IDS["a"], await stats.server_ms(client), 1, KEYS["a"])  # another chain
        await stats.publish_heartbeat(client, foreign, stream=heartbeats)
        await beat(client, heartbeats, "intruder")  # a signer, but not a registered node
        await beat(client, heartbeats, "b")
        await asyncio.sleep(0.02)
    reader = StatsReader(client, CHAIN_ID, params, heartbeats=heartbeats, latency=latency)
    got = await reader.read(registered("a", "b"), start, end)
    assert got == {IDS["a"]: NodeStats(), IDS["b"]: NodeStats(uptime_bps=BPS)}
    # a node whose registered signing key is another's does not get that node's heartbeats either
    stolen = {IDS["b"]: Registration(address("a"), 0)}
    assert (await reader.read(stolen, start, end))[IDS["b"]].uptime_bps == 0


async def test_readers_agree_and_a_read_window_cannot_change(client: redis.Redis, redis_url: str, names) -> None:
    heartbeats, latency = names
    now = await stats.server_ms(client)
    start, end = now, now + 600  # the window is not over yet: the reader waits for end + settle
    reader = StatsReader(client, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency)

    async def beats() -> None:
        while await stats.server_ms(client) <= end + 100:
            await beat(client, heartbeats, "a")
            await asyncio.sleep(0.05)

    writer = asyncio.create_task(beats())
    first = await reader.read(registered("a"), start, end, REGISTERED)
    assert await stats.server_ms(client) > end + PARAMS.settle_ms
    await writer  # appends went on past the window while and after it was read
    await beat(client, heartbeats, "a", signed_ms=end)  # signed for the window's end, appended after it
    await publish_sample(client, latency, 1, latency_ms=5)
    with pytest.raises(ResponseError, match="equal or smaller"):  # an explicit id cannot go back into it either
        await client.xadd(heartbeats, {"x": "y"}, id=f"{end}-0")
    other = connect(redis_url)
    try:
        again = await StatsReader(other, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency).read(
            registered("a"), start, end, REGISTERED
        )
    finally:
        await other.aclose()
    assert first == again and first[IDS["a"]].samples == 0
    assert first[IDS["a"]].uptime_bps > 0


# validators' BLS keys: v0..v2 registered (the snapshot's validator set), "outsider" not
VALIDATORS = {
    name: bls.keygen(hashlib.sha256(b"validator " + name.encode()).digest()) for name in ("v0", "v1", "v2", "outsider")
}
REGISTERED = frozenset(bls.public_key(VALIDATORS[n]) for n in ("v0", "v1", "v2"))


async def publish_sample(
    client: redis.Redis, stream: str, i: int, *, node: str = "a", latency_ms: int | None = None, by: str = "v0"
) -> int:
    """Append request i's latency sample for `node`, signed by validator `by`; returns its entry's ms."""
    s = types_pb2.LatencySample(
        node_id=IDS[node], request_id=i.to_bytes(32, "big"), latency_ms=10 * i if latency_ms is None else latency_ms
    )
    stats.sign_sample(s, VALIDATORS[by], CHAIN_ID)
    return stats.entry_ms(await client.xadd(stream, wire.encode(s, f"{i}", {})))


def test_a_sample_signature_binds_its_fields() -> None:
    s = types_pb2.LatencySample(node_id=IDS["a"], request_id=b"\x01" * 32, latency_ms=5, cluster_id="c")
    stats.sign_sample(s, VALIDATORS["v0"], CHAIN_ID)
    assert stats.sample_signer(s, CHAIN_ID) == bls.public_key(VALIDATORS["v0"])
    assert stats.sample_signer(s, 1) is None  # signed for another chain
    for field, value in (("latency_ms", 4), ("node_id", IDS["b"]), ("request_entry_id", "1-0"), ("chain_id", 1)):
        other = types_pb2.LatencySample()
        other.CopyFrom(s)
        setattr(other, field, value)
        assert stats.sample_signer(other, CHAIN_ID) is None, field
    other = types_pb2.LatencySample()
    other.CopyFrom(s)
    other.signer = bls.public_key(VALIDATORS["v1"])  # claims another validator signed it
    assert stats.sample_signer(other, CHAIN_ID) is None


async def test_latency_p95_deduplicated_by_request(client: redis.Redis, names) -> None:
    heartbeats, latency = names
    await publish_sample(client, latency, 0, latency_ms=99_999)  # request 0, sampled before the window
    await asyncio.sleep(0.01)
    start = await stats.server_ms(client)
    await asyncio.sleep(0.01)
    await publish_sample(client, latency, 0, latency_ms=99_999, by="v1")  # another copy: counted before
    for i in range(1, 21):
        await publish_sample(client, latency, i)
        await publish_sample(client, latency, i, by="v1")  # every request sampled by two aggregators
        await publish_sample(client, latency, i)  # and a repeat from the first: one signer counts once
    await publish_sample(client, latency, 1, node="b")  # v0 again, naming another node: its first report stands
    end = await stats.server_ms(client)
    reader = StatsReader(client, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency)
    got = await reader.read(registered("a", "b", "c"), start, end, REGISTERED)
    assert (got[IDS["a"]].p95_latency_ms, got[IDS["a"]].samples) == (190, 20)  # nearest rank: 19th of 20
    assert got[IDS["b"]].samples == 0 and got[IDS["c"]].samples == 0


async def test_unsigned_forged_and_unregistered_samples_are_ignored(client: redis.Redis, names) -> None:
    """Anyone who can write ax0n:latency, racing ahead of the aggregators: an unsigned sample, one signed by a key
    outside the validator set, one with a forged signature claiming a registered signer, one signed for another
    chain. None counts, none shadows the genuine sample that follows; without the validator set nothing counts."""
    heartbeats, latency = names
    start = await stats.server_ms(client)
    await asyncio.sleep(0.01)
    unsigned = types_pb2.LatencySample(node_id=IDS["b"], request_id=(7).to_bytes(32, "big"), latency_ms=1)
    await client.xadd(latency, wire.encode(unsigned, "7", {}))
    await publish_sample(client, latency, 7, node="b", latency_ms=1, by="outsider")
    forged = types_pb2.LatencySample()
    forged.CopyFrom(unsigned)
    stats.sign_sample(forged, VALIDATORS["outsider"], CHAIN_ID)
    forged.signer = bls.public_key(VALIDATORS["v0"])  # a registered key's name on an outsider's signature
    await client.xadd(latency, wire.encode(forged, "7", {}))
    elsewhere = types_pb2.LatencySample()
    elsewhere.CopyFrom(unsigned)
    stats.sign_sample(elsewhere, VALIDATORS["v0"], CHAIN_ID + 1)
    await client.xadd(latency, wire.encode(elsewhere, "7", {}))
    await client.xadd(latency, {"junk": "not a sample"})
    for name in ("outsider", "v1"):  # request 8: an outsider's low latency for a, then the genuine one
        await publish_sample(client, latency, 8, latency_ms=1 if name == "outsider" else 900, by=name)
    await publish_sample(client, latency, 7, node="a", latency_ms=700, by="v0")  # request 7's genuine sample
    end = await stats.server_ms(client)
    reader = StatsReader(client, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency)
    got = await reader.read(registered("a", "b"), start, end, REGISTERED)
    assert got[IDS["b"]].samples == 0  # none of the forgeries gave b a sample
    assert (got[IDS["a"]].samples, got[IDS["a"]].p95_latency_ms) == (2, 900)  # 700 and 900: the genuine ones
    none = await StatsReader(client, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency).read(
        registered("a", "b"), start, end
    )
    assert none[IDS["a"]].samples == 0  # no validator set: no sample can be trusted


async def test_a_minority_of_registered_validators_cannot_move_a_sample(client: redis.Redis, names) -> None:
    """A registered validator that misreports (another node, a faster time) is outvoted by the others' samples of
    the same request: the node most signers name, the lower median of their latencies."""
    heartbeats, latency = names
    start = await stats.server_ms(client)
    await asyncio.sleep(0.01)
    await publish_sample(client, latency, 3, node="b", latency_ms=1, by="v2")  # first, and false
    await publish_sample(client, latency, 3, latency_ms=500, by="v0")
    await publish_sample(client, latency, 3, latency_ms=500, by="v1")
    await publish_sample(client, latency, 4, latency_ms=1, by="v2")  # a faster time for a's request 4
    await publish_sample(client, latency, 4, latency_ms=800, by="v0")
    await publish_sample(client, latency, 4, latency_ms=800, by="v1")
    end = await stats.server_ms(client)
    reader = StatsReader(client, CHAIN_ID, PARAMS, heartbeats=heartbeats, latency=latency)
    got = await reader.read(registered("a", "b"), start, end, REGISTERED)
    assert got[IDS["b"]].samples == 0
    assert (got[IDS["a"]].samples, got[IDS["a"]].p95_latency_ms) == (2, 800)
