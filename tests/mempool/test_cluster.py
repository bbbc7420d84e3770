"""The mempool on a real 3-master Redis Cluster: a consumer's input and outputs share a hash tag, so each
batched commit touches one slot; streams with different tags live on different masters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from ax0n_tools.devnet.cluster import RedisClusterServers

from ax0n.mempool import Mempool, Outbound
from tests.mempool.helpers import chunk, consumer, output_keys, wait_for
from tests.mempool.test_crashes import _kill_worker_mid_batch


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    with RedisClusterServers() as servers:
        yield servers


@pytest.fixture
async def pool(cluster: RedisClusterServers):
    pool = Mempool.from_url(cluster.url)
    yield pool
    await pool.close()


def tagged(prefix: str) -> tuple[str, str]:
    """(input, output) streams sharing one hash tag: one slot for the commit script."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return f"test:{{{tag}}}:in", f"test:{{{tag}}}:out"


async def test_streams_on_three_masters_each_key_handled_once(pool: Mempool) -> None:
    pairs: list[tuple[str, str]] = []
    per_master: dict[int, int] = {}
    await pool.redis.initialize()  # type: ignore[attr-defined]  # load the slot map
    while len(pairs) < 6:  # two streams on each of the three masters
        pair = tagged(f"s{len(pairs)}")
        port = pool.redis.get_node_from_key(pair[0]).port  # type: ignore[attr-defined]
        if per_master.get(port, 0) < 2:
            per_master[port] = per_master.get(port, 0) + 1
            pairs.append(pair)
    n = 600
    for stream, _ in pairs:
        await pool.ensure_group(stream, "g")
        for start in range(0, n, 200):
            await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(start, start + 200)])
        # a producer's retry after a lost reply: duplicates of every tenth key, handled once
        await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(0, n, 10)])

    members = [consumer(pool, s, o, f"c{k}", batch=100) for s, o in pairs for k in range(2)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    for _, out in pairs:
        await wait_for(lambda out=out: _count(pool, out, n), timeout=120)
    for stream, _ in pairs:
        await wait_for(lambda stream=stream: _backlog_zero(pool, stream))
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)

    for _, out in pairs:
        assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(n)]
    assert len(per_master) == 3  # the streams really are spread over the cluster


async def test_sigkilled_consumer_on_the_cluster_handled_once(pool: Mempool, cluster: RedisClusterServers) -> None:
    stream, out = tagged("kill")
    await _kill_worker_mid_batch(pool, cluster.url, stream, out, 40)
    survivor = consumer(pool, stream, out, "survivor", min_idle_ms=200)
    task = asyncio.create_task(survivor.run())
    await wait_for(lambda: _backlog_zero(pool, stream))
    survivor.stop()
    await task
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(40)]


async def test_outputs_in_other_slots_are_sent_once_then_committed(pool: Mempool, cluster: RedisClusterServers) -> None:
    """Input and output on different masters: SEND (output slot) then COMMIT (input slot), each key once,
    through duplicates and through a SIGKILLed consumer whose entries are re-run by a survivor."""
    await pool.redis.initialize()  # type: ignore[attr-defined]
    stream, _ = tagged("in")
    out = _elsewhere(pool, stream)
    await pool.ensure_group(stream, "g")
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(500)])
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(0, 500, 7)])
    members = [consumer(pool, stream, out, f"c{k}", batch=50) for k in range(2)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    await wait_for(lambda: _backlog_zero(pool, stream), timeout=120)
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(500)]

    stream, _ = tagged("kill-in")
    out = _elsewhere(pool, stream)
    await _kill_worker_mid_batch(pool, cluster.url, stream, out, 40)
    survivor = consumer(pool, stream, out, "survivor", min_idle_ms=200)
    task = asyncio.create_task(survivor.run())
    await wait_for(lambda: _backlog_zero(pool, stream))
    survivor.stop()
    await task
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(40)]


def _elsewhere(pool: Mempool, stream: str) -> str:
    """An output stream on another master than `stream`."""
    node = pool.redis.get_node_from_key(stream)  # type: ignore[attr-defined]
    while True:
        _, out = tagged("out")
        if pool.redis.get_node_from_key(out) != node:  # type: ignore[attr-defined]
            return out


async def _count(pool: Mempool, stream: str, n: int) -> bool:
    return await pool.redis.xlen(stream) >= n


async def _backlog_zero(pool: Mempool, stream: str) -> bool:
    return await pool.backlog(stream, "g") == 0
