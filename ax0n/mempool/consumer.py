"""Consumer groups over Redis streams: at-least-once delivery, exactly-once effect within Redis.

A handler returns the messages it wants published; they are appended together with an idempotency
marker and the acknowledgement in one Lua script, so an entry's effect is committed once or not at all.
Entries stalled on a dead consumer are reclaimed with XAUTOCLAIM; past `max_deliveries`, and at once
for malformed entries, they move to `{stream}:dead` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic

from opentelemetry.trace import SpanKind
from redis.exceptions import NoScriptError, ResponseError

from ax0n.mempool import entry as wire
from ax0n.mempool.entry import Entry, M, MalformedEntry
from ax0n.mempool.pool import RETRYABLE, Mempool, Outbound
from ax0n.mempool.streams import dead_letter_stream
from ax0n.runtime import telemetry

log = logging.getLogger(__name__)

Handler = Callable[[Entry[M]], Awaitable[Sequence[Outbound] | None]]

# KEYS: stream, done-marker, error hash, output streams...
# ARGV: group, entry id, marker ttl, maxlen, then per output: field count, fields...
COMMIT = """
local fresh = redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[3])
if fresh then
  local i = 5
  for k = 4, #KEYS do
    local n = tonumber(ARGV[i])
    redis.call('XADD', KEYS[k], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, i + 1, i + n))
    i = i + n + 1
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
if fresh then return 1 else return 0 end
"""


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
    ) -> None:
        self.pool, self.redis = pool, pool.redis
        self.stream, self.group, self.name = stream, group, name
        self.message_type, self.handler = message_type, handler
        self.batch, self.block_ms = batch, block_ms
        self.min_idle_ms, self.max_deliveries = min_idle_ms, max_deliveries
        self.done_ttl_s = done_ttl_s
        self.dead_stream = dead_letter_stream(stream)
        self.errors_key = f"ax0n:err:{stream}:{group}"
        self._limit = asyncio.Semaphore(concurrency)
        self._commit = self.redis.register_script(COMMIT)
        self._commits: list[tuple[list[str], list[str | bytes | int], asyncio.Future[None]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._labels = {"stream": stream, "group": group}

    def done_key(self, key: str) -> str:
        return f"ax0n:done:{self.stream}:{self.group}:{key}"

    def stop(self) -> None:
        """Finish the entries in hand, then return from run(); unread entries stay for other members."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Handle entries until stop(); survives Redis restarts, reconnecting with backoff."""
        backoff = 0.05
        pending_checked = False
        next_reclaim = 0.0
        while not self.stopping:
            try:
                if not pending_checked:  # entries this name read before a restart, not yet acked
                    await self.pool.ensure_group(self.stream, self.group)
                    await self._drain_own_pending()
                    pending_checked = True
                if time.monotonic() >= next_reclaim:
                    await self.reclaim()
                    next_reclaim = time.monotonic() + self.min_idle_ms / 2_000
                    await self._update_depth()
                await self._read_once(">")
                backoff = 0.05
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                pending_checked = False  # stream or group vanished (Redis restarted without persistence)
            except RETRYABLE as exc:
                pending_checked = False  # replies lost with the connection leave entries pending on this name
                log.warning("%s/%s: redis unavailable (%s); retrying in %.2fs", self.stream, self.name, exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 5.0)

    async def _read_once(self, start: str) -> int:
        block = None if start != ">" else self.block_ms
        reply = await self.redis.xreadgroup(self.group, self.name, {self.stream: start}, count=self.batch, block=block)
        entries = reply[0][1] if reply else []
        await self._process_batch([(eid.decode(), fields, 1) for eid, fields in entries if fields])
        return len(entries)

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
        """Decode, skip keys already handled, run handlers concurrently, commit all in one round trip."""
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
                items.append(wire.decode(self.stream, entry_id, fields, self.message_type, deliveries))
            except MalformedEntry as exc:
                await self._dead_letter(entry_id, fields, f"malformed: {exc}", deliveries)
        if not items:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.exists(self.done_key(item.key))
            seen = await pipe.execute()
        handled = await asyncio.gather(*(self._handle(item, bool(dup)) for item, dup in zip(items, seen, strict=True)))
        telemetry.MEMPOOL_HANDLED.labels(**self._labels).inc(sum(handled))

    async def _handle(self, item: Entry[M], duplicate: bool) -> bool:
        """Run the handler in a consumer span and commit its effects with the ack; False if left pending."""
        parent = telemetry.extract(item.carrier)
        span_name = f"{self.stream} process"
        async with self._limit:
            with telemetry.tracer().start_as_current_span(span_name, context=parent, kind=SpanKind.CONSUMER) as span:
                span.set_attribute("messaging.message.id", item.id)
                span.set_attribute("ax0n.key", item.key)
                started = time.perf_counter()
                if duplicate:  # a key already handled (a producer's retried publish): ack only
                    await self._commit_effects(item, ())
                    return True
                try:
                    outputs = await self.handler(item) or ()
                except MalformedEntry as exc:
                    await self._dead_letter(item.id, None, f"malformed: {exc}", item.deliveries, item)
                    return False
                except Exception as exc:  # left pending: retried after min_idle_ms, dead-lettered past the limit
                    telemetry.MEMPOOL_FAILED.labels(**self._labels).inc()
                    span.record_exception(exc)
                    log.exception("%s: handler failed on %s (delivery %d)", self.stream, item.id, item.deliveries)
                    await self.redis.hset(self.errors_key, item.id, f"{type(exc).__name__}: {exc}"[:500])
                    return False
                await self._commit_effects(item, outputs)  # encoded in this span: outputs carry its context
        telemetry.MEMPOOL_LATENCY.labels(**self._labels).observe(time.perf_counter() - started)
        return True

    async def _commit_effects(self, item: Entry[M], outputs: Sequence[Outbound]) -> None:
        """Atomically: publish outputs and mark the key handled (unless already marked), then ack."""
        keys = [self.stream, self.done_key(item.key), self.errors_key]
        args: list[str | bytes | int] = [self.group, item.id, self.done_ttl_s, self.pool.maxlen]
        for out in outputs:
            keys.append(out.stream)
            flat = [part for pair in self.pool.fields(out.message, out.key).items() for part in pair]
            args.append(len(flat))
            args.extend(flat)
        future = asyncio.get_running_loop().create_future()
        self._commits.append((keys, args, future))
        if len(self._commits) == 1:  # first in this tick: flush once the other handlers have queued theirs
            asyncio.get_running_loop().call_soon(self._schedule_flush)
        await future

    def _schedule_flush(self) -> None:
        task = asyncio.ensure_future(self._flush_commits())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush_commits(self) -> None:
        """Send every queued commit in one pipeline; each script stays atomic on its own.

        A Redis that restarted between the pipeline's script check and its EVALSHAs answers NOSCRIPT: those
        scripts did not run, so they are sent again once (the pipeline loads the script first).
        """
        batch, self._commits = self._commits, []
        results = await self._send_commits(batch)
        again = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if again:
            for i, result in zip(again, await self._send_commits([batch[i] for i in again]), strict=True):
                results[i] = result
        for (_, _, future), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(None)

    async def _send_commits(self, batch: list[tuple[list[str], list[str | bytes | int], asyncio.Future[None]]]) -> list:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    await self._commit(keys=keys, args=args, client=pipe)
                return list(await pipe.execute(raise_on_error=False))
        except Exception as exc:
            return [exc] * len(batch)

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
