"""Bounds of the mempool against a real redis-server: backpressure instead of trimming unconsumed entries,
token streams that expire, and claims that a running handler keeps."""

from __future__ import annotations

import asyncio

import pytest

from ax0n.mempool import Backpressure, Entry, Mempool, Outbound
from ax0n.mempool.streams import TOKENS_TTL_S, tokens_stream
from ax0n.v1 import types_pb2
from tests.mempool.helpers import chunk, consumer, names, output_keys, wait_for


@pytest.fixture
async def pool(redis_url: str):
    pool = Mempool.from_url(redis_url, max_backlog=10, retain_ms=0)
    yield pool
    await pool.close()


async def test_full_stream_refuses_publishers_and_never_drops_an_entry(pool: Mempool) -> None:
    stream, out = names("full")
    await pool.ensure_group(stream, "g")
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(8)])
    with pytest.raises(Backpressure) as refused:  # 8 + 3 > 10: all or nothing
        await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(8, 11)])
    assert (refused.value.stream, refused.value.backlog, refused.value.adding) == (stream, 8, 3)
    assert await pool.redis.xlen(stream) == 8
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(8, 10)])
    with pytest.raises(
        Backpressure, match=f"stream {stream} holds 10 unconsumed entries; 1 more would pass its bound 10"
    ):
        await pool.publish(stream, chunk(10), key="10")

    # what approximate MAXLEN trimming would have dropped is all there, and all of it is handled
    c = consumer(pool, stream, out, "c1")
    task = asyncio.create_task(c.run())
    await wait_for(lambda: _len(pool, out, 10))
    await pool.publish(stream, chunk(10), key="10")  # consumed: room again
    await wait_for(lambda: _len(pool, out, 11))
    c.stop()
    await task
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(11)]


async def test_trim_removes_only_what_every_group_acknowledged(pool: Mempool) -> None:
    stream, out = names("trim")
    await pool.ensure_group(stream, "g")
    await pool.ensure_group(stream, "late")  # a second group that has read nothing yet
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(10)])

    async def first_half(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        if int(entry.key) >= 5:
            raise RuntimeError("not yet")  # left pending
        return [Outbound(out, entry.message, entry.key)]

    c = consumer(pool, stream, out, "c1", handler=first_half, min_idle_ms=60_000)
    task = asyncio.create_task(c.run())
    await wait_for(lambda: _len(pool, out, 5))
    await wait_for(lambda: _pending(pool, stream, "g", 5))
    c.stop()
    await task

    assert await pool.trim_consumed(stream) == 0  # "late" has not read a single entry
    await pool.redis.xgroup_destroy(stream, "late")
    assert await pool.trim_consumed(stream) == 5  # acknowledged by g; its pending 5..9 stay
    keys = [f[b"key"].decode() for _, f in await pool.redis.xrange(stream)]
    assert keys == [str(i) for i in range(5, 10)]

    kept = Mempool(pool.redis, retain_ms=3_600_000)
    assert await kept.trim_consumed(stream) == 0  # acknowledged but younger than the retention: kept


async def test_token_streams_expire_from_their_first_chunk(pool: Mempool) -> None:
    rid = b"\x07" * 32
    stream = tokens_stream(rid)
    await pool.publish(stream, types_pb2.TokenChunk(request_id=rid, index=0, delta="a"), key=rid.hex())
    first = await pool.redis.pexpiretime(stream)
    assert 0 < await pool.redis.ttl(stream) <= TOKENS_TTL_S
    await asyncio.sleep(0.05)
    await pool.publish(stream, types_pb2.TokenChunk(request_id=rid, index=1, delta="b"), key=rid.hex())
    assert await pool.redis.pexpiretime(stream) == first  # later chunks never extend it

    # the last chunk a consumer commits (the executor's "done") sets the TTL of a stream that had none
    other = b"\x08" * 32
    src, _ = names("tok")

    async def finish(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        return [Outbound(tokens_stream(other), types_pb2.TokenChunk(request_id=other, done=True), other.hex())]

    c = consumer(pool, src, "unused", "c1", handler=finish)
    task = asyncio.create_task(c.run())
    await pool.publish(src, chunk(1), key="1")
    await wait_for(lambda: _len(pool, tokens_stream(other), 1))
    c.stop()
    await task
    assert 0 < await pool.redis.ttl(tokens_stream(other)) <= TOKENS_TTL_S


async def test_reclaim_does_not_steal_a_handler_still_running(pool: Mempool) -> None:
    stream, out = names("long")
    runs: list[str] = []

    async def long_generation(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        runs.append(entry.key)
        await asyncio.sleep(1.5)  # five times the idle time after which a silent owner's entries are taken
        return [Outbound(out, entry.message, entry.key)]

    owner = consumer(pool, stream, out, "owner", handler=long_generation, min_idle_ms=300)
    task = asyncio.create_task(owner.run())
    await pool.publish(stream, chunk(1), key="long")
    await wait_for(lambda: _async(bool(runs)))
    other = consumer(pool, stream, out, "other", handler=long_generation, min_idle_ms=300)
    rival = asyncio.create_task(other.run())  # reclaims every 150 ms
    await wait_for(lambda: _len(pool, out, 1))
    await asyncio.sleep(0.5)
    owner.stop()
    other.stop()
    await asyncio.gather(task, rival)
    assert runs == ["long"]  # generated once
    assert await output_keys(pool, out) == ["long"]
    assert await pool.backlog(stream, "g") == 0


async def _len(pool: Mempool, stream: str, n: int) -> bool:
    return await pool.redis.xlen(stream) >= n


async def _pending(pool: Mempool, stream: str, group: str, n: int) -> bool:
    return (await pool.redis.xpending(stream, group))["pending"] >= n


async def _async(value: bool) -> bool:
    return value
