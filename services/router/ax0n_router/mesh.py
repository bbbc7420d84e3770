"""The router's side of the mempool: follow admitted requests' tokens and final results.

- requests: appended to `ax0n:req:{cluster}` by `Admission.commit` (entry key: request id hex);
- tokens: `ax0n:tok:{request_id}`, read from the start with XREAD until a chunk with `done`;
- results: `ax0n:final` (FinalizedReceipt), read by one watcher task per router and handed to waiters.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from prometheus_client import Counter

from ax0n.mempool import Mempool
from ax0n.mempool import entry as wire
from ax0n.mempool.entry import MalformedEntry
from ax0n.mempool.pool import RETRYABLE
from ax0n.mempool.streams import FINAL, tokens_stream
from ax0n.spec import finality
from ax0n.v1 import types_pb2

log = logging.getLogger(__name__)

TOKENS_TTL_S = 3_600  # a token stream is kept this long after the router read its last chunk
REFUSED_FINALS = Counter("ax0n_router_refused_finals_total", "Entries on ax0n:final not delivered", ["reason"])


async def tokens(pool: Mempool, request_id: bytes, timeout_s: float) -> AsyncIterator[types_pb2.TokenChunk]:
    """Yield the request's token chunks in order until `done`; TimeoutError past `timeout_s` in total.

    When an executor dies mid-generation, another replica reclaims the request and streams it again from
    index 0 (generation is deterministic): chunks below the next expected index are repeats and skipped.
    """
    stream = tokens_stream(request_id)
    last = "0-0"
    expected = 0
    async with asyncio.timeout(timeout_s):
        while True:
            reply = await pool.redis.xread({stream: last}, count=256, block=1_000)
            for _, entries in reply or ():
                for eid, fields in entries:
                    last = eid.decode()
                    try:
                        chunk = wire.decode(stream, last, fields, types_pb2.TokenChunk).message
                    except MalformedEntry as exc:
                        log.warning("%s: skipping malformed entry %s: %s", stream, last, exc)
                        continue
                    if chunk.index < expected and not chunk.done:
                        continue
                    expected = chunk.index + 1
                    yield chunk
                    if chunk.done:
                        await pool.redis.expire(stream, TOKENS_TTL_S)
                        return


FinalCheck = Callable[[types_pb2.FinalizedReceipt], str]  # why an entry is not final ('' when it is); blocking


class FinalWatcher:
    """Follows `ax0n:final` from the moment it starts and resolves waiters by request id with finals that `check`
    passes (ax0n.spec.finality: a VALID certificate of the request's own quorum, the receipt answering its signed
    request). Anything else is never delivered: it is logged and counted, and the settlers' consumer group
    dead-letters it with its reason; a genuine final for the same request id that follows is still delivered."""

    def __init__(self, pool: Mempool, check: FinalCheck, *, keep: int = 10_000) -> None:
        self.pool, self.check = pool, check
        self.keep = keep
        self.recent: OrderedDict[bytes, types_pb2.FinalizedReceipt] = OrderedDict()
        self._waiters: dict[bytes, list[asyncio.Future[types_pb2.FinalizedReceipt]]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """One follower per shard of the final stream (Mempool.streams_of); returns once each has its start."""
        await self.pool.ready()
        ready = []
        for stream in self.pool.streams_of(FINAL):
            ready.append(asyncio.Event())
            self._tasks.append(asyncio.create_task(self._run(stream, ready[-1]), name=f"final-watcher {stream}"))
        await asyncio.gather(*(r.wait() for r in ready))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    def expect(self, request_id: bytes) -> asyncio.Future[types_pb2.FinalizedReceipt]:
        """A future for the request's final result; register before publishing so none is missed."""
        fut: asyncio.Future[types_pb2.FinalizedReceipt] = asyncio.get_running_loop().create_future()
        if request_id in self.recent:
            fut.set_result(self.recent[request_id])
        else:
            self._waiters.setdefault(request_id, []).append(fut)
        return fut

    def forget(self, request_id: bytes, fut: asyncio.Future[types_pb2.FinalizedReceipt]) -> None:
        waiters = self._waiters.get(request_id, [])
        if fut in waiters:
            waiters.remove(fut)
        if not waiters:
            self._waiters.pop(request_id, None)

    def _deliver(self, final: types_pb2.FinalizedReceipt) -> None:
        rid = bytes(final.receipt.request_id)
        self.recent[rid] = final
        self.recent.move_to_end(rid)
        while len(self.recent) > self.keep:
            self.recent.popitem(last=False)
        for fut in self._waiters.pop(rid, []):
            if not fut.done():
                fut.set_result(final)

    async def _consider(self, entry_id: str, fields: dict[bytes, bytes]) -> None:
        try:
            final = wire.decode(FINAL, entry_id, fields, types_pb2.FinalizedReceipt).message
        except MalformedEntry as exc:
            REFUSED_FINALS.labels("malformed").inc()
            log.warning("%s: skipping malformed entry %s: %s", FINAL, entry_id, exc)
            return
        try:
            why = await asyncio.to_thread(self.check, final)
        except finality.Undecided as exc:  # e.g. a snapshot whose validator set this router cannot read
            REFUSED_FINALS.labels("undecided").inc()
            log.warning("%s: entry %s cannot be checked here, not delivered: %s", FINAL, entry_id, exc)
            return
        if why:
            REFUSED_FINALS.labels("not_final").inc()
            log.warning("%s: entry %s is not final, not delivered: %s", FINAL, entry_id, why)
            return
        self._deliver(final)

    async def _run(self, stream: str, ready: asyncio.Event) -> None:
        last = "$"
        backoff = 0.05
        while True:
            try:
                if last == "$":  # pin the start position to the stream's current end
                    redis = self.pool.redis
                    info = await redis.xinfo_stream(stream) if await redis.exists(stream) else None
                    last = info["last-generated-id"].decode() if info else "0-0"
                    ready.set()
                reply = await self.pool.redis.xread({stream: last}, count=256, block=1_000)
                for _, entries in reply or ():
                    for eid, fields in entries:
                        last = eid.decode()
                        await self._consider(last, fields)
                backoff = 0.05
            except RETRYABLE as exc:
                ready.set()
                log.warning("final watcher: redis unavailable (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
