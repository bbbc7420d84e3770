"""Helpers shared by the mempool tests."""

from __future__ import annotations

import asyncio
import uuid

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.v1 import types_pb2


def chunk(i: int) -> types_pb2.TokenChunk:
    return types_pb2.TokenChunk(request_id=i.to_bytes(8, "big"), index=i, delta=f"tok{i}")


def names(prefix: str) -> tuple[str, str]:
    """A fresh (input stream, output stream) pair."""
    tag = uuid.uuid4().hex[:8]
    return f"test:{prefix}:{tag}:in", f"test:{prefix}:{tag}:out"


def forward(out_stream: str):
    """A handler whose effect is one output entry carrying the input's key."""

    async def handle(entry: Entry[types_pb2.TokenChunk]) -> list[Outbound]:
        return [Outbound(out_stream, entry.message, entry.key)]

    return handle


async def output_keys(pool: Mempool, stream: str) -> list[str]:
    rows = await pool.redis.xrange(stream)
    return [fields[b"key"].decode() for _, fields in rows]


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def consumer(pool: Mempool, stream: str, out: str, name: str, **kw) -> Consumer[types_pb2.TokenChunk]:
    kw.setdefault("block_ms", 100)
    return Consumer(pool, stream, "g", name, types_pb2.TokenChunk, kw.pop("handler", None) or forward(out), **kw)
