"""Per-role Redis users against a real redis-server: each role reaches only its own keys (NOPERM elsewhere), and a
role's real consumer and publisher still work through the mempool's scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from ax0n_tools.devnet.redis import RedisServer
from redis.exceptions import NoPermissionError, ResponseError

from ax0n.mempool import Entry, Mempool, Outbound, Sharded, acl, streams
from ax0n.v1 import types_pb2


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer(roles=acl.ROLES) as s:
        yield s


@pytest.fixture
async def as_role(server: RedisServer) -> AsyncIterator:
    clients: list[aioredis.Redis] = []

    def connect(role: str) -> aioredis.Redis:
        clients.append(aioredis.Redis.from_url(server.url_for(role)))
        return clients[-1]

    yield connect
    for c in clients:
        await c.aclose()


def _denied(exc: BaseException) -> bool:
    return isinstance(exc, NoPermissionError) or "NOPERM" in str(exc) or "can't access" in str(exc)


async def _refused(call) -> None:
    with pytest.raises((NoPermissionError, ResponseError)) as caught:
        await call
    assert _denied(caught.value), caught.value


async def test_an_executor_cannot_forge_finals_or_touch_nonces_and_the_journal(as_role, server: RedisServer) -> None:
    admin = aioredis.Redis.from_url(server.url)
    await admin.set(f"{streams.ROUTER_KEYS}nonce:c1:7", "used")
    executor = as_role("executor")
    await _refused(executor.xadd(streams.FINAL, {"forged": "final"}))  # a forged final: NOPERM
    await _refused(executor.xadd(streams.shard_streams(streams.FINAL, 3)[1], {"forged": "final"}))  # ... on a shard
    await _refused(executor.delete(f"{streams.ROUTER_KEYS}nonce:c1:7"))  # replay by deleting a used nonce
    await _refused(executor.hset(f"{streams.ROUTER_KEYS}escrow:c1", "r", "0"))  # the router's reservations
    await _refused(executor.set(f"{streams.SETTLER_JOURNAL}:queue", "x"))  # the settler's journal
    await _refused(executor.xadd(streams.LATENCY, {"sample": "unsigned"}))  # steering routing
    await _refused(executor.flushall())
    assert await admin.get(f"{streams.ROUTER_KEYS}nonce:c1:7") == b"used"
    # a script runs with its caller's rights: no detour through EVAL
    await _refused(executor.eval("return redis.call('XADD', KEYS[1], '*', 'a', 1)", 1, streams.FINAL))
    # what the role is for still works
    assert await executor.xadd(streams.EXECUTED, {"a": "1"})
    assert await executor.xadd(streams.HEARTBEAT, {"a": "1"})
    await admin.aclose()


async def test_roles_reach_what_they_consume_and_produce(as_role) -> None:
    await _refused(as_role("prover").xadd(streams.FINAL, {"a": "1"}))
    await _refused(as_role("router").xadd(streams.PROVED, {"a": "1"}))
    assert await as_role("validator").xadd(streams.FINAL, {"a": "1"})  # a privileged writer: consumers verify it
    await _refused(as_role("stats").xadd(streams.HEARTBEAT, {"a": "1"}))
    assert await as_role("stats").xrange(streams.HEARTBEAT) is not None
    await _refused(as_role("settler").xadd(streams.requests_stream("c"), {"a": "1"}))


@pytest.mark.parametrize("shards", [1, 3])
async def test_a_role_runs_its_consumer_and_publisher_through_the_scripts(server: RedisServer, shards: int) -> None:
    """The prover's own user consumes ax0n:exec and publishes ax0n:proved exactly as the service does, on the
    streams themselves and on their shards (with their markers, error hashes and dead letters)."""
    admin = Mempool.from_url(server.url, shards=shards)
    prover = Mempool.from_url(server.url_for("prover"), shards=shards)
    executor = Mempool.from_url(server.url_for("executor"), shards=shards)
    tag = f"s{shards}"
    try:
        for stream in prover.streams_of(streams.EXECUTED):
            await prover.ensure_group(stream, streams.PROVER_GROUP)
        for i in range(6):  # over every shard
            await executor.publish(streams.EXECUTED, types_pb2.ExecutedReceipt(output=f"{tag}-{i}"), key=f"{tag}-{i}")
        bad = prover.stream_for(streams.EXECUTED, f"{tag}-bad")
        await admin.redis.xadd(bad, {"type": "not a message"})  # malformed: dead-lettered in the prover's rights

        async def handle(entry: Entry[types_pb2.ExecutedReceipt]) -> list[Outbound]:
            return [Outbound(streams.PROVED, types_pb2.ProvedReceipt(output=entry.message.output), entry.key)]

        consumer = Sharded(
            prover, streams.EXECUTED, streams.PROVER_GROUP, "p1", types_pb2.ExecutedReceipt, handle, block_ms=50
        )
        task = asyncio.create_task(consumer.run())
        proved = admin.streams_of(streams.PROVED)
        async with asyncio.timeout(20):
            while sum([await admin.redis.xlen(s) for s in proved]) < 6 or not await admin.redis.xlen(
                streams.dead_letter_stream(bad)
            ):
                await asyncio.sleep(0.05)
        consumer.stop()
        await task
        keys = [f[b"key"].decode() for s in proved for _, f in await admin.redis.xrange(s)]
        assert sorted(keys) == [f"{tag}-{i}" for i in range(6)]
        if shards > 1:
            assert sum([bool(await admin.redis.xlen(s)) for s in proved]) > 1  # really spread
    finally:
        await admin.redis.delete(*admin.streams_of(streams.EXECUTED), *admin.streams_of(streams.PROVED))
        for pool in (admin, prover, executor):
            await pool.close()
