"""Mempool throughput: publish + consume + ack through a consumer group, against raw pipelined XADD.

Starts its own redis-server. Runs both, alternately, `--rounds` times (fresh streams each round) and prints the
median messages/s of each and, last, the ratio of the medians mempool / raw XADD (medians, because the machine
may be shared: one round of either can be slowed by a neighbour).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

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
    stream, out = f"bench:in:{tag}", f"bench:out:{tag}"
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


async def main(quick: bool, rounds: int) -> None:
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
    print(f"ratio mempool / raw XADD: {mine / raw:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k messages per round (under a minute)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.quick, args.rounds))
