"""Mempool throughput: publish + consume + ack through a consumer group, against raw pipelined XADD.

Starts its own redis-server. Runs both, alternately, `--rounds` times (fresh streams each round) and prints the
median messages/s of each and, last, the ratio of the medians mempool / raw XADD (medians, because the machine
may be shared: one round of either can be slowed by a neighbour).

With `--cluster`, it also starts a 3-master Redis Cluster and runs the services' layout on it and on the single
server: a global stream in three shards (`Mempool(shards=3)`, one shard per master on the cluster), `--processes`
client processes each publishing its share and running one `Sharded` member that forwards every entry to a
sharded output stream (the same path a prover takes from `ax0n:exec` to `ax0n:proved`). It prints the median
msg/s of each and the ratio cluster / single before the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
from multiprocessing.synchronize import Event

from ax0n_tools.devnet.cluster import RedisClusterServers
from ax0n_tools.devnet.redis import RedisServer

from ax0n.mempool import Consumer, Entry, Mempool, Outbound, Sharded
from ax0n.v1 import types_pb2


def message(i: int) -> types_pb2.TokenChunk:
    return types_pb2.TokenChunk(request_id=i.to_bytes(32, "big"), index=i, delta="x" * 16)


async def raw_xadd(pool: Mempool, n: int, tag: str) -> float:
    """Baseline: pipelined XADD of the same payloads, no consumer at all."""
    payload = message(0).SerializeToString()
    started = time.perf_counter()
    for start in range(0, n, 500):
        async with pool.redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 500)):
                pipe.xadd(
                    f"bench:raw:{tag}", {b"type": b"ax0n.v1.TokenChunk", b"data": payload, b"key": str(i).encode()}
                )
            await pipe.execute()
    return n / (time.perf_counter() - started)


async def through_mempool(pool: Mempool, n: int, consumers: int, tag: str) -> float:
    """Typed, traced publish (one script call per 500) and consumption by a group with the batched atomic commit."""
    stream, out = f"bench:{{{tag}}}:in", f"bench:{{{tag}}}:out"  # one hash tag: one slot on a cluster
    await pool.ensure_group(stream, "g")

    async def handle(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        return [Outbound(out, entry.message, entry.key)]

    members = [
        Consumer(pool, stream, "g", f"c{i}", types_pb2.TokenChunk, handle, batch=200, block_ms=50, concurrency=32)
        for i in range(consumers)
    ]
    started = time.perf_counter()
    tasks = [asyncio.create_task(m.run()) for m in members]
    for start in range(0, n, 500):
        await pool.publish_many([Outbound(stream, message(i), str(i)) for i in range(start, min(n, start + 500))])
    while await pool.redis.xlen(out) < n:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    for m in members:
        m.stop()
    await asyncio.gather(*tasks)
    return n / elapsed


SHARDS = 3


def sharded_pool(url: str, tag: str) -> tuple[Mempool, str, str]:
    stream, out = f"bench:sharded:{tag}:in", f"bench:sharded:{tag}:out"
    return Mempool.from_url(url, shards=SHARDS, sharded=frozenset({stream, out})), stream, out


async def _total(pool: Mempool, stream: str) -> int:
    return sum([await pool.redis.xlen(s) for s in pool.streams_of(stream)])


def _client(url: str, tag: str, index: int, share: int, n: int, ready: Event, go: Event) -> None:
    """One client process: publishes keys [index * share, (index + 1) * share) and runs one Sharded member until
    the output holds n entries."""

    async def run() -> None:
        pool, stream, out = sharded_pool(url, tag)

        async def handle(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
            return [Outbound(out, entry.message, entry.key)]

        member = Sharded(
            pool, stream, "g", f"c{index}", types_pb2.TokenChunk, handle, batch=200, block_ms=50, concurrency=32
        )
        ready.set()
        await asyncio.to_thread(go.wait)
        task = asyncio.create_task(member.run())
        keys = range(index * share, (index + 1) * share)
        for start in range(keys.start, keys.stop, 500):
            batch = range(start, min(keys.stop, start + 500))
            await pool.publish_many([Outbound(stream, message(i), str(i)) for i in batch])
        while await _total(pool, out) < n:
            await asyncio.sleep(0.01)
        member.stop()
        await task
        await pool.close()

    asyncio.run(run())


async def sharded_path(url: str, n: int, processes: int, tag: str) -> float:
    """msg/s of the sharded path with `processes` client processes, from the moment all are ready."""
    pool, stream, out = sharded_pool(url, tag)
    for s in pool.streams_of(stream):
        await pool.ensure_group(s, "g")
    share = n // processes
    spawn = multiprocessing.get_context("spawn")
    go = spawn.Event()
    readies = [spawn.Event() for _ in range(processes)]
    procs = [
        spawn.Process(target=_client, args=(url, tag, i, share, share * processes, readies[i], go))
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    for ready in readies:
        await asyncio.to_thread(ready.wait)
    started = time.perf_counter()
    go.set()
    for proc in procs:
        await asyncio.to_thread(proc.join)
    elapsed = time.perf_counter() - started
    assert await _total(pool, out) == share * processes, "every entry forwarded exactly once"
    await pool.close()
    return share * processes / elapsed


async def compare_cluster(n: int, rounds: int, processes: int) -> None:
    singles, clusters = [], []
    with RedisServer() as server, RedisClusterServers() as cluster:
        for r in range(rounds):
            singles.append(await sharded_path(server.url, n, processes, f"r{r}"))
            clusters.append(await sharded_path(cluster.url, n, processes, f"r{r}"))
    one, three = statistics.median(singles), statistics.median(clusters)
    where = f"{SHARDS} shards, {processes} client processes, median of {rounds}"
    print(f"sharded path on 1 Redis:       {one:>10,.0f} msg/s  ({where})")
    print(f"sharded path on 3 masters:     {three:>10,.0f} msg/s  ({where})")
    print(f"ratio cluster / single Redis: {three / one:.3f}")


async def main(quick: bool, rounds: int, cluster: bool, processes: int) -> None:
    n = 20_000 if quick else 200_000
    raws, ours = [], []
    with RedisServer() as server:
        pool = Mempool.from_url(server.url)
        for r in range(rounds):
            raws.append(await raw_xadd(pool, n, str(r)))
            ours.append(await through_mempool(pool, n, 2, str(r)))
            await pool.redis.flushall()
        await pool.close()
    raw, mine = statistics.median(raws), statistics.median(ours)
    print(f"raw pipelined XADD:            {raw:>10,.0f} msg/s  ({n:,} messages, median of {rounds})")
    print(f"mempool produce+consume+ack:   {mine:>10,.0f} msg/s  ({n:,} messages, 2 consumers, median of {rounds})")
    if cluster:
        await compare_cluster(n, rounds, processes)
    print(f"ratio mempool / raw XADD: {mine / raw:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k messages per round (under a minute)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cluster", action="store_true", help="also compare 1 Redis with a 3-master cluster")
    parser.add_argument("--processes", type=int, default=3, help="client processes of the --cluster comparison")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.rounds, args.cluster, args.processes))
