"""Consumer groups over Redis streams: at-least-once delivery, exactly-once effect within Redis.

A handler returns the messages it wants published; they are appended together with an idempotency
marker and the acknowledgement in one Lua script, so an entry's effect is committed once or not at all.
Entries stalled on a dead consumer are reclaimed with XAUTOCLAIM; past `max_deliveries`, and at once
for malformed entries, they move to its dead-letter stream (`dead_letter_stream`) with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic

import msgpack
from opentelemetry.trace import Span
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from ax0n.mempool import entry as wire
from ax0n.mempool.entry import Entry, M, MalformedEntry
from ax0n.mempool.pool import RETRYABLE, Mempool, Outbound
from ax0n.mempool.streams import dead_letter_stream, expiry_s, hash_tag, slot_name
from ax0n.runtime import telemetry

log = logging.getLogger(__name__)

Handler = Callable[[Entry[M]], Awaitable[Sequence[Outbound] | None]]

# One call commits a whole batch of handled entries; per entry, atomically with the rest of the batch: set its
# idempotency marker if not set, and only then append its outputs (token streams get their TTL from the first
# chunk); then acknowledge every entry and clear its errors. Returns 1 per entry whose effects went in, 0 per
# duplicate. The batch travels as one MessagePack argument (cheap to build and parse for hundreds of entries).
# KEYS: stream, error hash, then every done marker and output stream the batch names
# ARGV: group, marker ttl, msgpack [[entry id, marker's KEYS index, [[stream's KEYS index, ttl, fields], ...]], ...]
COMMIT = """
local group, marker_ttl = ARGV[1], ARGV[2]
local batch = cmsgpack.unpack(ARGV[3])
local ids, fresh = {}, {}
for j, e in ipairs(batch) do
  local new = redis.call('SET', KEYS[e[2]], e[1], 'NX', 'EX', marker_ttl)
  if new then
    for _, out in ipairs(e[3]) do
      local stream = KEYS[out[1]]
      redis.call('XADD', stream, '*', unpack(out[3]))
      if out[2] > 0 then redis.call('EXPIRE', stream, out[2], 'NX') end
    end
  end
  ids[j] = e[1]
  fresh[j] = new and 1 or 0
end
redis.call('XACK', KEYS[1], group, unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return fresh
"""
# On Redis Cluster, the outputs of a batch that live in other hash slots than the input stream go first, one call
# per slot: per entry, an idempotency marker of its own in that slot (`ax0n:sent:{output stream}:...`), and only
# if it was not set yet, the entry's outputs to that slot. COMMIT then runs in the input's slot without them.
# KEYS: the sent markers and output streams of one slot
# ARGV: marker ttl, msgpack [[marker's KEYS index, [[stream's KEYS index, ttl, fields], ...]], ...]
SEND = """
for _, e in ipairs(cmsgpack.unpack(ARGV[2])) do
  if redis.call('SET', KEYS[e[1]], '1', 'NX', 'EX', ARGV[1]) then
    for _, out in ipairs(e[2]) do
      redis.call('XADD', KEYS[out[1]], '*', unpack(out[3]))
      if out[2] > 0 then redis.call('EXPIRE', KEYS[out[1]], out[2], 'NX') end
    end
  end
end
return 1
"""
COMMIT_CHUNK = 500  # entries per script call (bounds Lua's unpack and one script's run time)

# Resets the idle time of entries this member still owns (a handler is working on them), so no other member's
# XAUTOCLAIM takes a generation still running; an entry another member already took is left to it.
# KEYS: stream; ARGV: group, consumer, ids...
KEEP = """
local kept = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept
"""


# one queued commit: entry id, its done marker, its outputs as (stream, ttl, flat fields)
_Commit = tuple[str, str, list[tuple[str, int, list[bytes]]]]


def _commit_call(stream: str, errors_key: str, chunk: list[_Commit]) -> tuple[list[str], bytes]:
    """COMMIT's KEYS and its MessagePack batch for `chunk`."""
    keys, index = [stream, errors_key], {}

    def at(key: str) -> int:
        if key not in index:
            keys.append(key)
            index[key] = len(keys)  # Lua counts from 1
        return index[key]

    batch = [
        [entry_id, at(done_key), [[at(out), ttl, flat] for out, ttl, flat in outputs]]
        for entry_id, done_key, outputs in chunk
    ]
    return keys, msgpack.packb(batch, use_bin_type=False)


class Consumer(Generic[M]):
    """One member of a consumer group, handling `message_type` entries of `stream` with `handler`."""

    def __init__(
        self,
        pool: Mempool,
        stream: str,
        group: str,
        name: str,
        message_type: type[M],
        handler: Handler[M],
        *,
        batch: int = 16,
        block_ms: int = 1_000,
        min_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        concurrency: int = 1,
        done_ttl_s: int = 7 * 24 * 3600,
        shard_of: str = "",
    ) -> None:
        self.pool, self.redis = pool, pool.redis
        self.shard_of = shard_of  # the sharded stream `stream` is a shard of, if any: entries must belong here
        self.stream, self.group, self.name = stream, group, name
        self.message_type, self.handler = message_type, handler
        self.batch, self.block_ms = batch, block_ms
        self.min_idle_ms, self.max_deliveries = min_idle_ms, max_deliveries
        self.done_ttl_s = done_ttl_s
        self.dead_stream = dead_letter_stream(stream)
        self._done_prefix = f"ax0n:done:{slot_name(stream)}:{group}:"  # in the stream's slot, tagged or not
        self.errors_key = f"ax0n:err:{slot_name(stream)}:{group}"
        self._limit = asyncio.Semaphore(concurrency)
        self._commit = self.redis.register_script(COMMIT)
        self._send = self.redis.register_script(SEND)
        self._cluster = isinstance(self.redis, RedisCluster)
        self._slot = key_slot(stream.encode())
        self._keep = self.redis.register_script(KEEP)
        self._commits: list[_Commit] = []  # queued this tick, flushed together
        self._committed: asyncio.Future[None] | None = None  # resolved when this tick's queue is committed
        self._in_hand: set[str] = set()  # ids whose handlers are running: their claims are kept fresh
        self._flushing: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._labels = {"stream": stream, "group": group}
        self._span_name = f"{stream} process"
        self._latency = telemetry.MEMPOOL_LATENCY.labels(**self._labels)
        self._handled = telemetry.MEMPOOL_HANDLED.labels(**self._labels)
        self._in_flight: asyncio.Future[None] | None = None  # the last batch's commit, while the next is read

    def done_key(self, key: str) -> str:
        return self._done_prefix + key

    def stop(self) -> None:
        """Finish the entries in hand, then return from run(); unread entries stay for other members."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Handle entries until stop(); survives Redis restarts, reconnecting with backoff."""
        keeper = asyncio.create_task(self._keep_claims())
        try:
            await self._loop()
        finally:
            await self._quiesce()
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _loop(self) -> None:
        backoff = 0.05
        pending_checked = False
        next_reclaim = 0.0
        while not self.stopping:
            try:
                if not pending_checked:  # entries this name read before a restart, not yet acked
                    await self.pool.ready()
                    await self.pool.ensure_group(self.stream, self.group)
                    await self._drain_own_pending()
                    pending_checked = True
                if time.monotonic() >= next_reclaim:
                    await self.reclaim()
                    next_reclaim = time.monotonic() + self.min_idle_ms / 2_000
                    await self._update_depth()
                    await self.pool.trim_consumed(self.stream)
                await self._read_once(">")
                backoff = 0.05
            except RETRYABLE as exc:
                await self._quiesce()
                pending_checked = False  # replies lost with the connection leave entries pending on this name
                log.warning("%s/%s: redis unavailable (%s); retrying in %.2fs", self.stream, self.name, exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self._quiesce()
                pending_checked = False  # stream or group vanished (Redis restarted without persistence)

    async def _keep_claims(self) -> None:
        """While handlers run, reset their entries' idle time every third of min_idle_ms (see KEEP)."""
        while True:
            await asyncio.sleep(self.min_idle_ms / 3_000)
            ids = sorted(self._in_hand)
            if ids:
                with contextlib.suppress(*RETRYABLE):
                    await self._keep(keys=[self.stream], args=[self.group, self.name, *ids])

    async def _read_once(self, start: str) -> int:
        block = None if start != ">" else self.block_ms
        reply = await self.redis.xreadgroup(self.group, self.name, {self.stream: start}, count=self.batch, block=block)
        entries = reply[0][1] if reply else []
        commits = await self._start_batch([(eid.decode(), fields, 1) for eid, fields in entries if fields])
        # read the next batch while this one's commit travels; at most one batch's commit is outstanding
        previous, self._in_flight = self._in_flight, asyncio.ensure_future(self._settle(commits))
        if previous is not None:
            await previous
        return len(entries)

    async def _quiesce(self) -> None:
        """Wait for the outstanding commit; one that failed leaves its entries pending (re-read, deduplicated)."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            with contextlib.suppress(*RETRYABLE, ResponseError):
                await in_flight

    async def _drain_own_pending(self) -> None:
        while not self.stopping:
            reply = await self.redis.xreadgroup(self.group, self.name, {self.stream: "0"}, count=self.batch)
            entries = [(eid, f) for eid, f in (reply[0][1] if reply else []) if f]
            if not entries:
                return
            await self._process_counted(entries)

    async def reclaim(self) -> None:
        """Take over entries idle for min_idle_ms on any member (dead consumers), dead-lettering past the limit."""
        cursor = "0-0"
        while not self.stopping:
            cursor_b, claimed, deleted = await self.redis.xautoclaim(
                self.stream, self.group, self.name, self.min_idle_ms, cursor, count=self.batch
            )
            for eid in deleted:
                await self._dead_letter(eid.decode(), {}, "entry was trimmed from the stream before it was handled", 0)
            claimed = [(eid, f) for eid, f in claimed if f]
            if claimed:
                await self._process_counted(claimed)
            cursor = cursor_b.decode()
            if cursor == "0-0":
                return

    async def _process_counted(self, entries: list) -> None:
        """Process entries delivered before, with their delivery counts from the pending list."""
        ids = [eid.decode() for eid, _ in entries]
        pending = await self.redis.xpending_range(
            self.stream, self.group, min=min(ids), max=max(ids), count=len(ids) * 4, consumername=self.name
        )
        counts = {p["message_id"].decode(): int(p["times_delivered"]) for p in pending}
        await self._process_batch([(i, f, counts.get(i, 1)) for i, (_, f) in zip(ids, entries, strict=True)])

    async def _process_batch(self, batch: list[tuple[str, dict[bytes, bytes], int]]) -> None:
        await self._settle(await self._start_batch(batch))

    async def _settle(self, commits: list[tuple[asyncio.Future[None], float]]) -> None:
        """Wait for a batch's commits; count the handled entries and their read-to-ack latency."""
        futures = {id(future): future for future, _ in commits}.values()  # one per tick, shared by its entries
        for result in await asyncio.gather(*futures, return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
        now = time.perf_counter()
        for _, started in commits:
            self._latency.observe(now - started)
        self._handled.inc(len(commits))

    async def _start_batch(
        self, batch: list[tuple[str, dict[bytes, bytes], int]]
    ) -> list[tuple[asyncio.Future[None], float]]:
        """Decode, skip keys already handled, run handlers concurrently; returns their commits, in flight
        together (COMMIT), each with the time its handling started."""
        items: list[Entry[M]] = []
        for entry_id, fields, deliveries in batch:
            if deliveries > self.max_deliveries:
                last = await self.redis.hget(self.errors_key, entry_id)
                reason = f"delivery limit {self.max_deliveries} exceeded"
                if last:
                    reason += f"; last error: {last.decode('utf-8', 'replace')}"
                await self._dead_letter(entry_id, fields, reason, deliveries)
                continue
            try:
                item = wire.decode(self.stream, entry_id, fields, self.message_type, deliveries)
                if self.shard_of and (home := self.pool.stream_for(self.shard_of, item.key)) != self.stream:
                    # its key's marker lives in its own shard: handled here, a copy would take effect twice
                    raise MalformedEntry(f"key {item.key!r} belongs to shard {home}")
                items.append(item)
            except MalformedEntry as exc:
                await self._dead_letter(entry_id, fields, f"malformed: {exc}", deliveries)
        if not items:
            return []
        seen = await self.redis.mget([self.done_key(item.key) for item in items])
        started = await asyncio.gather(*(self._handle(item, bool(d)) for item, d in zip(items, seen, strict=True)))
        return [c for c in started if c is not None]

    async def _handle(self, item: Entry[M], duplicate: bool) -> tuple[asyncio.Future[None], float] | None:
        """Run the handler in a consumer span and queue its effects' commit with the ack; returns the commit
        and when handling started, or None if the entry is left pending or dead-lettered.

        The concurrency slot covers the handler only: the commit (batched with the rest of the tick's) does not
        hold it, so the next handlers start while it travels."""
        self._in_hand.add(item.id)
        try:
            with telemetry.consumer_span(self._span_name, item.carrier) as span:
                if span.is_recording():
                    span.set_attributes({"messaging.message.id": item.id, "ax0n.key": item.key})
                return await self._run_handler(item, duplicate, span)
        finally:
            self._in_hand.discard(item.id)

    async def _run_handler(
        self, item: Entry[M], duplicate: bool, span: Span
    ) -> tuple[asyncio.Future[None], float] | None:
        """_handle's body, inside the entry's span."""
        started = time.perf_counter()
        if duplicate:  # a key already handled (a producer's retried publish): ack only
            return self._queue_commit(item, ()), started
        async with self._limit:
            try:
                outputs = await self.handler(item) or ()
            except MalformedEntry as exc:
                await self._dead_letter(item.id, None, f"malformed: {exc}", item.deliveries, item)
                return None
            except Exception as exc:  # left pending: retried after min_idle_ms, dead-lettered past the limit
                telemetry.MEMPOOL_FAILED.labels(**self._labels).inc()
                span.record_exception(exc)
                log.exception("%s: handler failed on %s (delivery %d)", self.stream, item.id, item.deliveries)
                await self.redis.hset(self.errors_key, item.id, f"{type(exc).__name__}: {exc}"[:500])
                return None
            return self._queue_commit(item, outputs), started  # encoded in this span: carries its context

    def _queue_commit(self, item: Entry[M], outputs: Sequence[Outbound]) -> asyncio.Future[None]:
        """Queue the entry's commit (COMMIT: outputs + marker unless already marked, then ack) for this tick's
        batch; outputs are encoded now, in the caller's span, so they carry its trace context."""
        route = self.pool.stream_for
        encoded = [
            (route(o.stream, o.key), expiry_s(o.stream), self.pool.flat_fields(o.message, o.key)) for o in outputs
        ]
        self._commits.append((item.id, self.done_key(item.key), encoded))
        if self._committed is None:  # first in this tick: flush once the other handlers have queued theirs
            self._committed = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._schedule_flush)
        return self._committed

    def _schedule_flush(self) -> None:
        task = asyncio.ensure_future(self._flush_commits())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_commits(self) -> None:
        """Commit every queued entry with one COMMIT call per COMMIT_CHUNK entries, sent together.

        Each call is its own EVALSHA (not a pipeline, which would cost a SCRIPT EXISTS round trip per flush);
        a Redis that restarted and lost the script answers NOSCRIPT, and the call is re-sent with the script.
        The tick's future fails if any call failed: those entries stay pending (re-read, deduplicated).
        """
        batch, self._commits = self._commits, []
        committed, self._committed = self._committed, None
        assert committed is not None
        chunks = [batch[i : i + COMMIT_CHUNK] for i in range(0, len(batch), COMMIT_CHUNK)]
        results = await asyncio.gather(*(self._send_commit(chunk) for chunk in chunks), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            committed.set_exception(failed[0])
        else:
            committed.set_result(None)

    async def _send_commit(self, chunk: list[_Commit]) -> None:
        if self._cluster:
            chunk = await self._send_other_slots(chunk)
        keys, batch = _commit_call(self.stream, self.errors_key, chunk)
        await self._commit(keys=keys, args=[self.group, self.done_ttl_s, batch])

    async def _send_other_slots(self, chunk: list[_Commit]) -> list[_Commit]:
        """Redis Cluster: append the outputs bound for other slots (SEND, one call per slot, each idempotent by
        its own markers) and return the chunk with only the outputs in the input's slot, for COMMIT.

        Exactly once in effect per output slot: a crash between SEND and COMMIT leaves the entry pending, and
        its re-run appends nothing where the first run's markers are set. Unlike the single-slot COMMIT, a
        re-run's outputs to slots not yet sent are its own (the same when the handler is deterministic)."""
        per_slot: dict[int, list[tuple[str, list[tuple[str, int, list[bytes]]]]]] = defaultdict(list)
        local: list[_Commit] = []
        for entry_id, done_key, outputs in chunk:
            mine, others = [], defaultdict(list)
            for out in outputs:
                slot = key_slot(out[0].encode())
                (mine if slot == self._slot else others[slot]).append(out)
            for slot, outs in others.items():
                per_slot[slot].append((done_key, outs))
            local.append((entry_id, done_key, mine))
        await asyncio.gather(*(self._send_slot(entries) for entries in per_slot.values()))
        return local

    async def _send_slot(self, entries: list[tuple[str, list[tuple[str, int, list[bytes]]]]]) -> None:
        keys: list[str] = []
        index: dict[str, int] = {}

        def at(key: str) -> int:
            if key not in index:
                keys.append(key)
                index[key] = len(keys)  # Lua counts from 1
            return index[key]

        batch = []
        for done_key, outs in entries:
            # in the outputs' slot: hashed on the (lowest) output stream's tag, or on its whole name
            first = min(o[0] for o in outs)
            marker = f"ax0n:sent:{{{hash_tag(first) or first}}}:{done_key}"
            if key_slot(marker.encode()) != key_slot(first.encode()):  # e.g. a name holding an empty "{}"
                raise ValueError(f"stream name {first!r} cannot be used on Redis Cluster")
            batch.append([at(marker), [[at(stream), ttl, flat] for stream, ttl, flat in outs]])
        await self._send(keys=keys, args=[self.done_ttl_s, msgpack.packb(batch, use_bin_type=False)])

    async def _dead_letter(
        self,
        entry_id: str,
        fields: dict[bytes, bytes] | None,
        reason: str,
        deliveries: int,
        item: Entry[M] | None = None,
    ) -> None:
        record = dict(fields) if fields else {}
        if item is not None:
            record = wire.encode(item.message, item.key, item.carrier)
        record.update(
            {
                b"dead_stream": self.stream.encode(),
                b"dead_id": entry_id.encode(),
                b"dead_group": self.group.encode(),
                b"dead_reason": reason.encode(),
                b"dead_deliveries": str(deliveries).encode(),
            }
        )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_stream, record, maxlen=self.pool.maxlen, approximate=True)
            pipe.xack(self.stream, self.group, entry_id)
            pipe.hdel(self.errors_key, entry_id)
            await pipe.execute()
        telemetry.MEMPOOL_DEAD.labels(**self._labels).inc()
        log.warning("%s: dead-lettered %s: %s", self.stream, entry_id, reason)

    async def _update_depth(self) -> None:
        depth = await self.pool.backlog(self.stream, self.group)
        telemetry.MEMPOOL_DEPTH.labels(**self._labels).set(depth)


class Sharded(Generic[M]):
    """Members of `group` on every stream `stream` is stored in (Mempool.streams_of): one Consumer per shard,
    each with the shard's own group, sharing one concurrency limit. With one shard, that shard's Consumer."""

    def __init__(
        self,
        pool: Mempool,
        stream: str,
        group: str,
        name: str,
        message_type: type[M],
        handler: Handler[M],
        *,
        concurrency: int = 1,
        **kw: int,
    ) -> None:
        self.stream = stream
        shards = pool.streams_of(stream)
        of = stream if len(shards) > 1 else ""
        self.members = [
            Consumer(pool, s, group, name, message_type, handler, concurrency=concurrency, shard_of=of, **kw)
            for s in shards
        ]
        for member in self.members[1:]:
            member._limit = self.members[0]._limit

    async def run(self) -> None:
        await asyncio.gather(*(m.run() for m in self.members))

    def stop(self) -> None:
        for member in self.members:
            member.stop()

    @property
    def stopping(self) -> bool:
        return self.members[0].stopping
