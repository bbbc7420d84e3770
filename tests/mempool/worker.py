"""A consumer process for crash tests: handles keys below --handle, then hangs on the rest until killed."""

from __future__ import annotations

import argparse
import asyncio

from ax0n.mempool import Entry, Mempool, Outbound
from ax0n.v1 import types_pb2
from tests.mempool.helpers import consumer


async def main(args: argparse.Namespace) -> None:
    pool = Mempool.from_url(args.redis_url)

    async def handle(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        if int(entry.key) < args.handle:
            return [Outbound(args.out, entry.message, entry.key)]
        await pool.redis.incr(f"{args.stream}:hung")
        await asyncio.Event().wait()  # never acks: the test SIGKILLs this process
        raise AssertionError("unreachable")

    await consumer(
        pool, args.stream, args.out, "doomed", handler=handle, batch=args.batch, concurrency=args.batch
    ).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("redis_url", "stream", "out"):
        parser.add_argument(name)
    parser.add_argument("--handle", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20)
    asyncio.run(main(parser.parse_args()))
