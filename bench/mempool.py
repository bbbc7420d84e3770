"""Mempool throughput: publish + consume + ack through a consumer group, against raw pipelined XADD.

Starts its own redis-server. Prints messages/s for each and, last, the ratio mempool / raw XADD.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from ax0n_tools.devnet.redis import RedisServer

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.v1 import types_pb2


def message(i: int) -> types_pb2.TokenChunk:
    return types_pb2.TokenChunk(request_id=i.to_bytes(32, "big"), index=i, delta="x" * 16)


async def raw_xadd(pool: Mempool, n: int) -> float:
    """Baseline: pipelined XADD of the same payloads, no consumer at all."""
    payload = message(0).SerializeToString()
    started = time.perf_counter()
    for start in range(0, n, 500):
        async with pool.redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(n, start + 500)):
                pipe.xadd("bench:raw", {b"type": b"ax0n.v1.TokenChunk", b"data": payload, b"key": str(i).encode()})
            await pipe.execute()
    return n / (time.perf_counter() - started)


async def through_mempool(pool: Mempool, n: int, consumers: int) -> float:
    """Typed, traced publish (pipelined) and consumption by a group with the atomic commit + ack."""
    stream, out = "bench:in", "bench:out"
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


async def main(quick: bool) -> None:
    n = 20_000 if quick else 200_000
    with RedisServer() as server:
        pool = Mempool.from_url(server.url)
        raw = await raw_xadd(pool, n)
        print(f"raw pipelined XADD:            {raw:>10,.0f} msg/s  ({n:,} messages)")
        ours = await through_mempool(pool, n, consumers=2)
        print(f"mempool produce+consume+ack:   {ours:>10,.0f} msg/s  ({n:,} messages, 2 consumers)")
        await pool.close()
    print(f"ratio mempool / raw XADD: {ours / raw:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20k messages (under a minute)")
    asyncio.run(main(parser.parse_args().quick))
