"""Delivery guarantees of ax0n.mempool against a real redis-server."""

from __future__ import annotations

import asyncio

import pytest

from ax0n.mempool import Entry, Mempool, Sharded
from ax0n.mempool.streams import dead_letter_stream
from ax0n.v1 import types_pb2
from tests.mempool.helpers import chunk, consumer, forward, names, output_keys, wait_for


@pytest.fixture
async def pool(mempool_url: str):
    pool = Mempool.from_url(mempool_url)
    yield pool
    await pool.close()


async def test_publish_in_span_is_consumed_as_child_span(pool: Mempool, spans) -> None:
    from ax0n.runtime.telemetry import tracer

    stream, out = names("trace")
    c = consumer(pool, stream, out, "c1")
    task = asyncio.create_task(c.run())
    with tracer().start_as_current_span("client request") as root:
        await pool.publish(stream, chunk(1), key="k1")
    await wait_for(lambda: _count(pool, out, 1))
    c.stop()
    await task

    finished = {s.name: s for s in spans.get_finished_spans()}
    publish, process = finished[f"{stream} publish"], finished[f"{stream} process"]
    trace_id = root.get_span_context().trace_id
    assert publish.context.trace_id == trace_id
    assert process.context.trace_id == trace_id
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    # what the handler published downstream carries the consumer span's context
    ((_, fields),) = await pool.redis.xrange(out)
    assert f"{trace_id:032x}" in fields[b"traceparent"].decode()


async def test_ten_thousand_through_three_consumers_none_lost_none_twice(pool: Mempool) -> None:
    stream, out = names("load")
    n = 10_000
    ids = [str(i) for i in range(n)]
    await pool.ensure_group(stream, "g")
    for start in range(0, n, 500):
        await pool.publish_many([_outbound(stream, int(k)) for k in ids[start : start + 500]])
    # a producer retry after a lost reply re-publishes: duplicates of 100 keys must not be handled twice
    await pool.publish_many([_outbound(stream, i) for i in range(0, n, 100)])

    handled: list[str] = []
    members = [consumer(pool, stream, out, f"c{i}", batch=100, handler=_recording(out, handled)) for i in range(3)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    await wait_for(lambda: _count(pool, out, n), timeout=120)
    await wait_for(lambda: _backlog_zero(pool, stream))
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)

    keys = await output_keys(pool, out)
    assert sorted(keys, key=int) == ids  # every key exactly once in effect
    assert len(handled) >= n  # each consumer did part of the work
    assert await pool.backlog(stream, "g") == 0


async def test_handler_failure_retries_then_dead_letters_with_reason(pool: Mempool) -> None:
    stream, out = names("fail")
    attempts: list[int] = []

    async def always_fails(entry: Entry[types_pb2.TokenChunk]):
        attempts.append(entry.deliveries)
        raise RuntimeError("model crashed")

    c = consumer(pool, stream, out, "c1", handler=always_fails, min_idle_ms=50, max_deliveries=3)
    task = asyncio.create_task(c.run())
    await pool.publish(stream, chunk(7), key="poison")
    dead = dead_letter_stream(stream)
    await wait_for(lambda: _count(pool, dead, 1))
    c.stop()
    await task

    ((_, record),) = await pool.redis.xrange(dead)
    assert record[b"dead_reason"].decode() == "delivery limit 3 exceeded; last error: RuntimeError: model crashed"
    assert record[b"key"] == b"poison" and record[b"type"] == b"ax0n.v1.TokenChunk"
    assert attempts == [1, 2, 3]
    assert await pool.backlog(stream, "g") == 0


async def test_malformed_entries_are_dead_lettered_and_never_crash(pool: Mempool) -> None:
    stream, out = names("bad")
    await pool.ensure_group(stream, "g")
    good = pool.fields(chunk(1), "good")
    bad = {
        "not protobuf": {**good, b"data": b"\xff\xff\xff\xff", b"key": b"a"},
        "missing fields": {b"type": b"ax0n.v1.TokenChunk"},
        "wrong type": {**good, b"type": b"ax0n.v1.Receipt", b"key": b"b"},
        "empty key": {**good, b"key": b""},
    }
    for fields in bad.values():
        await pool.redis.xadd(stream, fields)
    await pool.redis.xadd(stream, good)

    c = consumer(pool, stream, out, "c1")
    task = asyncio.create_task(c.run())
    await wait_for(lambda: _count(pool, out, 1))
    await wait_for(lambda: _count(pool, dead_letter_stream(stream), 4))
    c.stop()
    await task

    reasons = [f[b"dead_reason"].decode() for _, f in await pool.redis.xrange(dead_letter_stream(stream))]
    assert reasons[0].startswith("malformed: payload is not a valid ax0n.v1.TokenChunk")
    assert reasons[1] == "malformed: missing fields: data, key"
    assert reasons[2] == "malformed: wrong message type 'ax0n.v1.Receipt', expected 'ax0n.v1.TokenChunk'"
    assert reasons[3] == "malformed: empty idempotency key"
    assert await output_keys(pool, out) == ["good"]


async def test_an_entry_planted_in_another_shard_is_dead_lettered_not_handled_twice(mempool_url: str) -> None:
    """A writer appends a copy of a key to a shard the key does not map to (where the key's marker is not): the
    copy is refused, the key's own entry is handled once; every shard's entries reach the members."""
    stream, out = names("shards")
    pool = Mempool.from_url(mempool_url, shards=3, sharded=frozenset({stream, out}))
    try:
        shards = pool.streams_of(stream)
        for s in shards:
            await pool.ensure_group(s, "g")
        await pool.publish_many([_outbound(stream, i) for i in range(30)])
        home = pool.stream_for(stream, "7")
        planted = next(s for s in shards if s != home)
        await pool.redis.xadd(planted, pool.fields(chunk(7), "7"))  # the same key, in another shard

        members = [
            Sharded(pool, stream, "g", f"c{i}", types_pb2.TokenChunk, forward(out), block_ms=50) for i in range(2)
        ]
        tasks = [asyncio.create_task(m.run()) for m in members]
        await wait_for(lambda: _count(pool, dead_letter_stream(planted), 1))
        await wait_for(lambda: _total(pool, pool.streams_of(out), 30))
        for s in shards:
            await wait_for(lambda s=s: _backlog_zero(pool, s))
        for m in members:
            m.stop()
        await asyncio.gather(*tasks)

        keys = [k for s in pool.streams_of(out) for k in await output_keys(pool, s)]
        assert sorted(keys, key=int) == [str(i) for i in range(30)]
        [(_, dead)] = await pool.redis.xrange(dead_letter_stream(planted))
        assert dead[b"dead_reason"].decode() == f"malformed: key '7' belongs to shard {home}"
    finally:
        await pool.close()


async def test_graceful_stop_finishes_in_flight_entry(pool: Mempool) -> None:
    stream, out = names("stop")
    started = asyncio.Event()

    async def slow(entry: Entry[types_pb2.TokenChunk]):
        started.set()
        await asyncio.sleep(0.5)
        from ax0n.mempool import Outbound

        return [Outbound(out, entry.message, entry.key)]

    c = consumer(pool, stream, out, "c1", handler=slow)
    task = asyncio.create_task(c.run())
    await pool.publish(stream, chunk(1), key="inflight")
    await started.wait()
    c.stop()  # arrives mid-handling
    await task
    assert await output_keys(pool, out) == ["inflight"]
    assert await pool.backlog(stream, "g") == 0


def _outbound(stream: str, i: int):
    from ax0n.mempool import Outbound

    return Outbound(stream, chunk(i), str(i))


def _recording(out: str, handled: list[str]):
    from ax0n.mempool import Outbound

    async def handle(entry: Entry[types_pb2.TokenChunk]):
        handled.append(entry.key)
        return [Outbound(out, entry.message, entry.key)]

    return handle


async def _count(pool: Mempool, stream: str, n: int) -> bool:
    return await pool.redis.xlen(stream) >= n


async def _backlog_zero(pool: Mempool, stream: str) -> bool:
    return await pool.backlog(stream, "g") == 0


async def _total(pool: Mempool, streams: list[str], n: int) -> bool:
    return sum([await pool.redis.xlen(s) for s in streams]) >= n
