"""Crash and restart behaviour: SIGKILLed consumers, a Redis (AOF) restart mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ax0n_tools.devnet.redis import RedisServer

from ax0n.mempool import Mempool
from ax0n.mempool.pool import RETRYABLE
from ax0n.mempool.streams import dead_letter_stream
from tests.mempool.helpers import chunk, consumer, names, output_keys, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def pool(mempool_url: str):
    pool = Mempool.from_url(mempool_url)
    yield pool
    await pool.close()


async def _kill_worker_mid_batch(pool: Mempool, redis_url: str, stream: str, out: str, n: int) -> None:
    """Publish n entries; a worker process handles keys 0-4, hangs on 5-19 (read, unacked), is SIGKILLed."""
    await pool.ensure_group(stream, "g")
    for i in range(n):
        await pool.publish(stream, chunk(i), key=str(i))
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.mempool.worker", redis_url, stream, out],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        await wait_for(lambda: _equals(pool, f"{stream}:hung", 15), timeout=60)
        await wait_for(lambda: _count(pool, out, 5))
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    assert sorted(await output_keys(pool, out)) == [str(i) for i in range(5)]
    pending = await pool.redis.xpending(stream, "g")
    assert pending["pending"] == 15


async def test_sigkilled_consumer_entries_reclaimed_and_handled_once(pool: Mempool, mempool_url: str) -> None:
    stream, out = names("kill")
    await _kill_worker_mid_batch(pool, mempool_url, stream, out, 40)

    survivor = consumer(pool, stream, out, "survivor", min_idle_ms=200)
    task = asyncio.create_task(survivor.run())
    await wait_for(lambda: _backlog_zero(pool, stream))
    survivor.stop()
    await task

    keys = await output_keys(pool, out)
    assert sorted(keys, key=int) == [str(i) for i in range(40)]  # each exactly once in effect
    assert await pool.redis.xlen(dead_letter_stream(stream)) == 0


async def test_past_delivery_limit_reclaimed_entries_are_dead_lettered(pool: Mempool, mempool_url: str) -> None:
    stream, out = names("limit")
    await _kill_worker_mid_batch(pool, mempool_url, stream, out, 30)

    survivor = consumer(pool, stream, out, "survivor", min_idle_ms=200, max_deliveries=1)
    task = asyncio.create_task(survivor.run())
    await wait_for(lambda: _backlog_zero(pool, stream))
    survivor.stop()
    await task

    dead = await pool.redis.xrange(dead_letter_stream(stream))
    assert sorted(int(f[b"key"]) for _, f in dead) == list(range(5, 20))
    assert {f[b"dead_reason"] for _, f in dead} == {b"delivery limit 1 exceeded"}
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in [*range(5), *range(20, 30)]]


async def test_redis_restart_mid_stream_loses_no_acknowledged_entry() -> None:
    n = 600
    with RedisServer(aof=True) as server:
        producer_pool, consumer_pool = Mempool.from_url(server.url), Mempool.from_url(server.url)
        stream, out = names("restart")
        await consumer_pool.ensure_group(stream, "g")
        member = consumer(consumer_pool, stream, out, "c1")
        task = asyncio.create_task(member.run())
        published: list[str] = []

        async def produce() -> None:
            for i in range(n):
                while True:  # the client already retries with backoff; a caller retries what still failed
                    try:
                        await producer_pool.publish(stream, chunk(i), key=str(i))
                        break
                    except RETRYABLE:
                        await asyncio.sleep(0.1)
                published.append(str(i))
                await asyncio.sleep(0.002)

        producing = asyncio.create_task(produce())
        await wait_for(lambda: _at_least(published, n // 3))
        server.kill()  # crash: AOF with appendfsync always holds every acknowledged write
        await asyncio.sleep(0.5)
        server.start()
        await producing
        await wait_for(lambda: _count(consumer_pool, out, n), timeout=60)
        member.stop()
        await task

        keys = await output_keys(consumer_pool, out)
        assert sorted(set(keys), key=int) == published == [str(i) for i in range(n)]
        assert len(keys) == n  # duplicates from retried publishes were handled once
        await producer_pool.close()
        await consumer_pool.close()


async def _equals(pool: Mempool, key: str, value: int) -> bool:
    raw = await pool.redis.get(key)
    return raw is not None and int(raw) == value


async def _backlog_zero(pool: Mempool, stream: str) -> bool:
    return await pool.backlog(stream, "g") == 0


async def _count(pool: Mempool, stream: str, n: int) -> bool:
    return await pool.redis.xlen(stream) >= n


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n
