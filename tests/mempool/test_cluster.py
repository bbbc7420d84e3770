"""The mempool on the session's real Redis Cluster (three masters, a replica each): streams spread over the masters,
global streams sharded, outputs in other slots, and a master SIGKILLed mid-run with its replica taking over.
The delivery and crash suites also run on this cluster (the `mempool_url` fixture)."""

from __future__ import annotations

import asyncio
import uuid

from ax0n_tools.devnet.cluster import RedisClusterServers

from ax0n.mempool import Entry, Mempool, Outbound, Sharded, connect
from ax0n.mempool.pool import RETRYABLE
from ax0n.v1 import types_pb2
from tests.mempool.helpers import chunk, consumer, forward, output_keys, wait_for
from tests.mempool.test_crashes import _kill_worker_mid_batch


def tagged(prefix: str) -> tuple[str, str]:
    """(input, output) streams sharing one hash tag: one slot for the commit script."""
    tag = f"{prefix}-{uuid.uuid4().hex[:8]}"
    return f"test:{{{tag}}}:in", f"test:{{{tag}}}:out"


async def _pool(cluster: RedisClusterServers, **kw) -> Mempool:
    pool = Mempool(connect(cluster.url), **kw)
    await pool.redis.initialize()  # type: ignore[attr-defined]  # load the slot map
    return pool


def _port(pool: Mempool, key: str) -> int:
    return pool.redis.get_node_from_key(key).port  # type: ignore[attr-defined]


async def test_streams_on_three_masters_each_key_handled_once(redis_cluster: RedisClusterServers) -> None:
    pool = await _pool(redis_cluster)
    pairs: list[tuple[str, str]] = []
    per_master: dict[int, int] = {}
    while len(pairs) < 6:  # two streams on each of the three masters
        pair = tagged(f"s{len(pairs)}")
        port = _port(pool, pair[0])
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
    await pool.close()


async def test_a_sharded_stream_spreads_over_the_masters_each_key_once(redis_cluster: RedisClusterServers) -> None:
    """A global stream in three shards (one per master): publishers route each key to its shard (duplicates to the
    same one), members read every shard, and the output's shard i shares input shard i's slot (one COMMIT)."""
    tag = uuid.uuid4().hex[:8]
    stream, out = f"test:sharded:{tag}:in", f"test:sharded:{tag}:out"
    pool = await _pool(redis_cluster, shards=3, sharded=frozenset({stream, out}))
    shards = pool.streams_of(stream)
    assert len({_port(pool, s) for s in shards}) == 3
    assert [_port(pool, s) for s in pool.streams_of(out)] == [_port(pool, s) for s in shards]
    for s in shards:
        await pool.ensure_group(s, "g")
    n = 900
    for start in range(0, n, 300):  # one script call per shard: each shard's part all or nothing
        await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(start, start + 300)])
    await pool.publish_many([Outbound(stream, chunk(i), str(i)) for i in range(0, n, 9)])

    members = [Sharded(pool, stream, "g", f"c{k}", types_pb2.TokenChunk, forward(out), batch=100) for k in range(2)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    await wait_for(lambda: _total(pool, pool.streams_of(out), n), timeout=120)
    for s in shards:
        await wait_for(lambda s=s: _backlog_zero(pool, s))
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)

    keys = [k for s in pool.streams_of(out) for k in await output_keys(pool, s)]
    assert sorted(keys, key=int) == [str(i) for i in range(n)]
    for s in shards:  # every shard did part of the work
        assert await pool.redis.xlen(s) > n // 6
    await pool.close()


async def test_thirty_consumers_starting_at_once_on_a_fresh_client_all_join(redis_cluster: RedisClusterServers) -> None:
    """A validator starts about thirty consumers at once on one new cluster client (five workers, two sharded
    streams, three shards): every group is created and every member stops (Mempool.ready loads the slot map
    once; without it, a lazily initializing client left some of them hanging)."""
    tag = uuid.uuid4().hex[:8]
    names = [f"test:start:{tag}:{i}" for i in range(2)]
    pool = Mempool.from_url(redis_cluster.url, shards=3, sharded=frozenset(names))

    async def ignore(_entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        return []

    members = [
        Sharded(pool, name, f"g{w}", "m", types_pb2.TokenChunk, ignore, block_ms=100)
        for name in names
        for w in range(5)
    ]
    tasks = [asyncio.create_task(m.run()) for m in members]
    shards = [s for name in names for s in pool.streams_of(name)]
    await wait_for(lambda: _groups(pool, shards, 5), timeout=20)
    for m in members:
        m.stop()
    async with asyncio.timeout(20):
        await asyncio.gather(*tasks)
    await pool.close()


async def test_outputs_in_other_slots_are_sent_once_then_committed(redis_cluster: RedisClusterServers) -> None:
    """Input and output on different masters: SEND (output slot) then COMMIT (input slot), each key once,
    through duplicates and through a SIGKILLed consumer whose entries are re-run by a survivor."""
    pool = await _pool(redis_cluster)
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
    await _kill_worker_mid_batch(pool, redis_cluster.url, stream, out, 40)
    survivor = consumer(pool, stream, out, "survivor", min_idle_ms=200)
    task = asyncio.create_task(survivor.run())
    await wait_for(lambda: _backlog_zero(pool, stream))
    survivor.stop()
    await task
    assert sorted(await output_keys(pool, out), key=int) == [str(i) for i in range(40)]
    await pool.close()


async def test_master_killed_mid_run_replica_takes_over_nothing_acknowledged_lost(
    redis_cluster: RedisClusterServers,
) -> None:
    """SIGKILL the master holding a stream, the very node the clients' URL names, while consumers are mid-batch
    (entries pending, commits in flight) and a producer keeps publishing: the replica is promoted, clients
    follow the new slot map, and every key
    whose publish was acknowledged comes out exactly once. Replication is asynchronous, so the test lets the
    replica catch up with the last acknowledged publish before the kill (docs/mempool.md: what a failover can
    lose without that)."""
    producer, workers = await _pool(redis_cluster), await _pool(redis_cluster)
    named = int(redis_cluster.url.rsplit(":", 1)[1])
    assert redis_cluster.role(named) == "master"  # `redis-cli --cluster create` makes the first nodes masters
    stream, out = tagged("failover")
    while _port(workers, stream) != named:
        stream, out = tagged("failover")
    master = named
    replica = redis_cluster.replica_of(master)
    await workers.ensure_group(stream, "g")
    published: list[str] = []

    async def publish(i: int) -> None:
        while True:  # the client retries with backoff across the failover; a caller retries what still failed
            try:
                await producer.publish(stream, chunk(i), key=str(i))
                published.append(str(i))
                return
            except RETRYABLE:
                await asyncio.sleep(0.1)

    async def slow(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        await asyncio.sleep(0.005)
        return [Outbound(out, entry.message, entry.key)]

    members = [consumer(workers, stream, out, f"c{k}", batch=20, handler=slow, min_idle_ms=1_000) for k in range(2)]
    tasks = [asyncio.create_task(m.run()) for m in members]
    n = 300
    for i in range(n):
        await publish(i)
    await wait_for(lambda: _count(workers, out, 50), timeout=60)
    acknowledged = redis_cluster.offset(master)  # the last acknowledged publish is in the stream before this
    await wait_for(lambda: _replicated(redis_cluster, replica, acknowledged), timeout=10)
    redis_cluster.kill(master)  # mid-run: batches read, commits travelling
    for i in range(n, n + 100):  # publishes during and after the failover
        await publish(i)
    assert redis_cluster.role(replica) == "master"
    await wait_for(lambda: _count(workers, out, n + 100), timeout=120)
    await wait_for(lambda: _backlog_zero(workers, stream), timeout=60)
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)

    keys = await output_keys(workers, out)
    assert published == [str(i) for i in range(n + 100)]
    assert sorted(keys, key=int) == published  # none lost, none twice
    await producer.close()
    await workers.close()


def _elsewhere(pool: Mempool, stream: str) -> str:
    """An output stream on another master than `stream`."""
    while True:
        _, out = tagged("out")
        if _port(pool, out) != _port(pool, stream):
            return out


async def _groups(pool: Mempool, streams: list[str], each: int) -> bool:
    for stream in streams:
        if not await pool.redis.exists(stream) or len(await pool.redis.xinfo_groups(stream)) < each:
            return False
    return True


async def _replicated(cluster: RedisClusterServers, replica: int, offset: int) -> bool:
    return cluster.offset(replica) >= offset


async def _count(pool: Mempool, stream: str, n: int) -> bool:
    return await pool.redis.xlen(stream) >= n


async def _total(pool: Mempool, streams: list[str], n: int) -> bool:
    return sum([await pool.redis.xlen(s) for s in streams]) >= n


async def _backlog_zero(pool: Mempool, stream: str) -> bool:
    return await pool.backlog(stream, "g") == 0
