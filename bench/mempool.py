"""Mempool throughput: publish + consume + ack through a consumer group, against raw pipelined XADD.

Starts its own redis-server. Runs both, alternately, `--rounds` times (fresh streams each round) and prints the
median messages/s of each and, last, the ratio of the medians mempool / raw XADD (medians, because the machine
may be shared: one round of either can be slowed by a neighbour).

With `--cluster`, it also starts a 3-master Redis Cluster and runs the same path over three stream pairs at
once (one hash tag each, one on each master), on the single server and on the cluster, and prints the ratio
cluster / single before the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from ax0n_tools.devnet.cluster import RedisClusterServers
from ax0n_tools.devnet.redis import RedisServer

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
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


async def spread(pool: Mempool, n: int, tags: list[str]) -> float:
    """The full path over one stream pair per tag at once, n entries in all."""
    started = time.perf_counter()
    await asyncio.gather(*(through_mempool(pool, n // len(tags), 2, tag) for tag in tags))
    return n // len(tags) * len(tags) / (time.perf_counter() - started)


async def one_tag_per_master(pool: Mempool, prefix: str) -> list[str]:
    """The first tags `{prefix}-0`, `{prefix}-1`, ... that land on each of the cluster's masters."""
    cluster = pool.redis  # a RedisCluster (ax0n.mempool.connect)
    await cluster.initialize()  # type: ignore[attr-defined]
    masters = {node.name for node in cluster.get_primaries()}  # type: ignore[attr-defined]
    chosen: dict[str, str] = {}
    i = 0
    while len(chosen) < len(masters):
        tag = f"{prefix}-{i}"
        chosen.setdefault(cluster.get_node_from_key(f"{{{tag}}}").name, tag)  # type: ignore[attr-defined]
        i += 1
    return sorted(chosen.values())


async def compare_cluster(n: int, rounds: int) -> None:
    singles, clusters = [], []
    with RedisServer() as server, RedisClusterServers() as cluster:
        single, spread_pool = Mempool.from_url(server.url), Mempool.from_url(cluster.url)
        for r in range(rounds):
            tags = await one_tag_per_master(spread_pool, f"r{r}")
            singles.append(await spread(single, n, tags))
            clusters.append(await spread(spread_pool, n, tags))
        await single.close()
        await spread_pool.close()
    one, three = statistics.median(singles), statistics.median(clusters)
    print(f"3 stream pairs on 1 Redis:     {one:>10,.0f} msg/s  (median of {rounds})")
    print(f"3 stream pairs on 3 masters:   {three:>10,.0f} msg/s  (median of {rounds})")
    print(f"ratio cluster / single Redis: {three / one:.3f}")


async def main(quick: bool, rounds: int, cluster: bool) -> None:
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
        await compare_cluster(n, rounds)
    print(f"ratio mempool / raw XADD: {mine / raw:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k messages per round (under a minute)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cluster", action="store_true", help="also compare 1 Redis with a 3-master cluster")
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.rounds, args.cluster))
