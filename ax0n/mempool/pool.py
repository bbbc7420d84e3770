"""The Redis connection every service shares: typed, traced publishing with backpressure, and stream upkeep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgpack
import redis as redis_sync
import redis.asyncio as redis
from google.protobuf.message import Message
from opentelemetry.trace import SpanKind
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.crc import key_slot
from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)

from ax0n.mempool import entry
from ax0n.mempool.streams import SHARDED, expiry_s, shard_index, shard_streams
from ax0n.runtime import telemetry

DEFAULT_MAXLEN = 1_000_000  # approximate bound of the dead-letter streams (an operator's window, never consumed)
DEFAULT_MAX_BACKLOG = 100_000  # unconsumed entries a stream may hold before publishers are refused
DEFAULT_RETAIN_MS = 10 * 60 * 1000  # consumed entries stay this long (latency samples look them up), then go
# a lost connection, or a Redis Cluster between states (a master failing over, slots moving)
RETRYABLE = (ConnectionError, TimeoutError, OSError, ClusterDownError, TryAgainError, SlotNotCoveredError)

# Unconsumed entries of a stream: the largest (lag + pending) over its groups, or its length before any group
# exists. A lag Redis cannot tell (entries deleted past a group's last delivery) is counted, up to `cap`.
BACKLOG = """
local function stream_backlog(stream, cap)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if groups.err or #groups == 0 then return redis.call('XLEN', stream) end
  local worst = 0
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    local lag = f['lag']
    if not lag then lag = #redis.call('XRANGE', stream, '(' .. f['last-delivered-id'], '+', 'COUNT', cap) end
    if lag + f['pending'] > worst then worst = lag + f['pending'] end
  end
  return worst
end
"""

# All or nothing: refuses ('busy', stream, backlog, adding) if the entries for any target stream would take its
# unconsumed backlog past max_backlog, else appends every entry (no trimming; token streams get their TTL from the first chunk), returning the ids.
# KEYS: the target streams; ARGV: max backlog, msgpack [[stream's KEYS index, ttl, fields], ...]
PUBLISH = (
    BACKLOG
    + """
local bound, batch, adding = tonumber(ARGV[1]), cmsgpack.unpack(ARGV[2]), {}
for _, e in ipairs(batch) do adding[e[1]] = (adding[e[1]] or 0) + 1 end
for k, stream in ipairs(KEYS) do
  local backlog = stream_backlog(stream, bound)
  if backlog + adding[k] > bound then return {'busy', stream, backlog, adding[k]} end
end
local ids = {}
for k, e in ipairs(batch) do
  ids[k] = redis.call('XADD', KEYS[e[1]], '*', unpack(e[3]))
  if e[2] > 0 then redis.call('EXPIRE', KEYS[e[1]], e[2], 'NX') end
end
return ids
"""
)

# Trims entries every group has acknowledged (before each group's oldest pending entry and not after its last
# delivery) and older than the retention id; a stream without groups is left alone. Returns entries removed.
# KEYS: stream; ARGV: retention id (entries below it may go)
TRIM = """
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if groups.err or #groups == 0 then return 0 end
local minid = ARGV[1]
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local keep = f['last-delivered-id']
  if f['pending'] > 0 then keep = redis.call('XPENDING', KEYS[1], f['name'])[2] end
  if before(keep, minid) then minid = keep end
end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)
"""


class Backpressure(Exception):
    """Publishing would take a stream's unconsumed entries past `bound`: nothing was published; retry later."""

    def __init__(self, stream: str, backlog: int, adding: int, bound: int) -> None:
        super().__init__(
            f"stream {stream} holds {backlog} unconsumed entries; {adding} more would pass its bound {bound}; "
            "retry later"
        )
        self.stream, self.backlog, self.adding, self.bound = stream, backlog, adding, bound


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to publish, committed atomically with the acknowledgement of the entry that produced it."""

    stream: str
    message: Message
    key: str


# a Redis Cluster: any one node's address; the client finds the rest (rediss-cluster://: over TLS)
CLUSTER_SCHEMES = {"redis-cluster://": "redis://", "rediss-cluster://": "rediss://"}


def _cluster_url(url: str) -> str | None:
    """`url` as the cluster client takes it, or None when it names a single Redis."""
    for scheme, plain in CLUSTER_SCHEMES.items():
        if url.startswith(scheme):
            return plain + url.removeprefix(scheme)
    return None


def connect_sync(url: str) -> redis_sync.Redis:
    """A blocking client for `url` (the settler's journal): a cluster client for `redis-cluster://`."""
    if cluster_url := _cluster_url(url):
        return cast(redis_sync.Redis, redis_sync.RedisCluster.from_url(cluster_url))
    return redis_sync.Redis.from_url(url)


def connect(url: str, *, retries: int = 8) -> redis.Redis:
    """A client that retries commands with jittered exponential backoff across connection loss.

    `redis-cluster://host:port` connects to a Redis Cluster (a cluster client, typed here as the plain one it
    mirrors); there every atomic script must name keys of one hash slot (docs/mempool.md, Redis Cluster)."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries)
    if cluster_url := _cluster_url(url):
        return cast(redis.Redis, RedisCluster.from_url(cluster_url, retry=retry))
    return redis.Redis.from_url(
        url, retry=retry, retry_on_error=[ConnectionError, TimeoutError, OSError], health_check_interval=10
    )


class Mempool:
    """Publishes typed messages to Redis streams and creates consumers over them.

    A stream in `sharded` is split into `shards` streams (ax0n.mempool.streams.shard_streams): an entry goes to
    the shard of its key; consumers read every shard (consumer.Sharded)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        maxlen: int = DEFAULT_MAXLEN,
        max_backlog: int = DEFAULT_MAX_BACKLOG,
        retain_ms: int = DEFAULT_RETAIN_MS,
        shards: int = 1,
        sharded: frozenset[str] = SHARDED,
    ) -> None:
        if shards < 1:
            raise ValueError(f"shards must be at least 1, not {shards}")
        self.redis = client
        self.shards, self.sharded = shards, sharded
        self._shard_names = {s: shard_streams(s, shards) for s in sharded} if shards > 1 else {}
        self._cluster = isinstance(client, RedisCluster)
        self._initialized = not self._cluster
        self._initializing = asyncio.Lock()
        self.maxlen, self.max_backlog, self.retain_ms = maxlen, max_backlog, retain_ms
        self._publish = client.register_script(PUBLISH)
        self._trim = client.register_script(TRIM)

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> Mempool:
        return cls(connect(url), **kw)

    async def ready(self) -> None:
        """Load a cluster client's slot map once, before its users' first commands: many first commands at once
        (a validator's thirty consumers) on a cluster client that initializes lazily can leave some hanging
        (redis-py 8.1; docs/mempool.md, Redis Cluster). No-op on one Redis."""
        if self._initialized:
            return
        async with self._initializing:
            if not self._initialized:
                await cast(RedisCluster, self.redis).initialize()
                self._initialized = True

    def streams_of(self, stream: str) -> list[str]:
        """The streams `stream` is stored in: its shards if it is sharded, else itself."""
        return self._shard_names.get(stream) or [stream]

    def stream_for(self, stream: str, key: str) -> str:
        """Where an entry of `stream` with idempotency `key` goes: its key's shard, or `stream` itself."""
        names = self._shard_names.get(stream)
        return names[shard_index(key, self.shards)] if names else stream

    async def close(self) -> None:
        await self.redis.aclose()

    def fields(self, message: Message, key: str) -> dict[bytes, bytes]:
        """Entry fields for `message`, carrying the current trace context."""
        return entry.encode(message, key, telemetry.inject())

    def flat_fields(self, message: Message, key: str) -> list[bytes]:
        """fields() as the flat name, value, ... list XADD takes."""
        return entry.encode_flat(message, key, telemetry.inject())

    async def publish(self, stream: str, message: Message, *, key: str) -> str:
        """Append `message` to `stream` under idempotency `key` (consumers handle a key once); returns the id.
        Raises Backpressure if the stream already holds max_backlog unconsumed entries."""
        with telemetry.tracer().start_as_current_span(f"{stream} publish", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.destination.name", stream)
            span.set_attribute("ax0n.key", key)
            (entry_id,) = await self._append([(self.stream_for(stream, key), self.flat_fields(message, key))])
        return entry_id

    async def publish_many(self, items: Sequence[Outbound]) -> list[str]:
        """Publish several messages in one script call, all or none (Backpressure if any stream is full).
        On Redis Cluster, one call per hash slot the streams fall in: all or none per slot."""
        routed = [(self.stream_for(i.stream, i.key), self.flat_fields(i.message, i.key)) for i in items]
        if not self._cluster:
            return await self._append(routed)
        per_slot: dict[int, list[int]] = {}
        for n, (stream, _) in enumerate(routed):
            per_slot.setdefault(key_slot(stream.encode()), []).append(n)
        ids = [""] * len(routed)
        for positions in per_slot.values():
            for n, entry_id in zip(positions, await self._append([routed[n] for n in positions]), strict=True):
                ids[n] = entry_id
        return ids

    async def _append(self, items: list[tuple[str, list[bytes]]]) -> list[str]:
        await self.ready()
        keys: list[str] = []
        index: dict[str, int] = {}
        for stream, _ in items:
            if stream not in index:
                keys.append(stream)
                index[stream] = len(keys)  # Lua counts from 1
        batch = msgpack.packb([[index[s], expiry_s(s), flat] for s, flat in items], use_bin_type=False)
        reply = await self._publish(keys=keys, args=[self.max_backlog, batch])  # reloads the script on NOSCRIPT
        if reply and reply[0] == b"busy":
            raise Backpressure(reply[1].decode(), int(reply[2]), int(reply[3]), self.max_backlog)
        return [i.decode() for i in reply]

    async def trim_consumed(self, stream: str) -> int:
        """Remove entries of `stream` every group has acknowledged, once older than retain_ms; never others."""
        retain = f"{max(int(time.time() * 1000) - self.retain_ms, 0)}-0"
        return int(await self._trim(keys=[stream], args=[retain]))

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create `group` on `stream` (and the stream) reading from the beginning; no-op if it exists."""
        try:
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def backlog(self, stream: str, group: str) -> int:
        """Entries `group` has not acknowledged yet: never delivered (lag) plus delivered but pending."""
        try:
            groups = await self.redis.xinfo_groups(stream)
        except ResponseError:
            return 0  # no such stream yet
        for info in groups:
            if info["name"].decode() == group:
                lag = info.get("lag")
                if lag is None:  # Redis cannot tell after some trims; count what is left after the group
                    lag = await self.redis.xlen(stream)
                return int(lag) + int(info["pending"])
        return await self.redis.xlen(stream)
