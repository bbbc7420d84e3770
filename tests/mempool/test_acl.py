"""Per-role Redis users against a real redis-server: each role reaches only its own keys (NOPERM elsewhere), and a
role's real consumer and publisher still work through the mempool's scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis
from ax0n_tools.devnet.redis import RedisServer
from redis.exceptions import NoPermissionError, ResponseError

from ax0n.mempool import Consumer, Entry, Mempool, Outbound, Sharded, acl, streams
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


async def test_the_stats_user_reads_the_backlog_the_autoscaler_needs_but_no_request(as_role, server) -> None:
    """KEDA connects as the stats user: XINFO GROUPS, XPENDING and XLEN on the scaled streams; no entry's content,
    no write."""
    admin = aioredis.Redis.from_url(server.url)
    stream = streams.requests_stream("scaled")
    await admin.xadd(stream, {"prompt": "a secret prompt"})
    await admin.xgroup_create(stream, streams.EXECUTOR_GROUP, id="0")
    stats = as_role("stats")
    (group,) = await stats.xinfo_groups(stream)
    assert group["lag"] == 1
    assert (await stats.xpending(stream, streams.EXECUTOR_GROUP))["pending"] == 0
    assert await stats.xlen(streams.EXECUTED) == await admin.xlen(streams.EXECUTED)
    await _refused(stats.xrange(stream))  # the prompt itself
    await _refused(stats.xinfo_stream(stream))  # shows the first and last entries
    await _refused(stats.xreadgroup(streams.EXECUTOR_GROUP, "keda", {stream: ">"}))
    await _refused(stats.xadd(stream, {"a": "1"}))
    await _refused(stats.xinfo_groups(streams.FINAL))  # only the scaled streams
    await admin.aclose()


async def test_an_executor_consumes_requests_but_cannot_append_to_them(server: RedisServer, as_role) -> None:
    """The executor's real consumer reads, acknowledges, dead-letters and trims its cluster's request stream
    through the mempool's scripts; appending a copy of a request there (to cite a later entry and shorten its
    measured latency) is NOPERM, directly and through a script."""
    stream = streams.requests_stream("consume-only")
    router, executor = Mempool.from_url(server.url_for("router")), Mempool.from_url(server.url_for("executor"))
    try:
        await executor.ensure_group(stream, streams.EXECUTOR_GROUP)
        request = types_pb2.InferenceRequest(request_id=b"\x07" * 32, model_id="m")
        await router.publish(stream, request, key="r7")
        await router.redis.xadd(stream, {"garbage": "not an entry"})  # malformed: dead-lettered by the consumer

        async def handle(entry: Entry[types_pb2.InferenceRequest]) -> list[Outbound]:
            receipt = types_pb2.ExecutedReceipt(request=entry.message)
            return [Outbound(streams.EXECUTED, receipt, entry.key)]

        consumer = Consumer(
            executor, stream, streams.EXECUTOR_GROUP, "e1", types_pb2.InferenceRequest, handle, block_ms=50
        )
        task = asyncio.create_task(consumer.run())
        async with asyncio.timeout(20):
            while not (
                await router.redis.xlen(streams.dead_letter_stream(stream))
                and (await router.redis.xpending(stream, streams.EXECUTOR_GROUP))["pending"] == 0
            ):
                await asyncio.sleep(0.05)
        consumer.stop()
        await task
        assert await executor.trim_consumed(stream) >= 0
        (group,) = await router.redis.xinfo_groups(stream)
        assert (group["pending"], group["lag"]) == (0, 0)  # both entries handled and acknowledged
        copy = as_role("executor")
        await _refused(copy.xadd(stream, {"copy": "of a request"}))
        await _refused(copy.eval("return redis.call('XADD', KEYS[1], '*', 'a', 1)", 1, stream))
        await _refused(copy.xgroup_setid(stream, streams.EXECUTOR_GROUP, "0"))  # no rewinding the group either
    finally:
        await router.close()
        await executor.close()
