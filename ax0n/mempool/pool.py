"""The Redis connection every service shares: typed, traced publishing and stream introspection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as redis
from google.protobuf.message import Message
from opentelemetry.trace import SpanKind
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from ax0n.mempool import entry
from ax0n.runtime import telemetry

DEFAULT_MAXLEN = 1_000_000  # approximate per-stream bound; admission control keeps backlogs far below it
RETRYABLE = (ConnectionError, TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message to publish, committed atomically with the acknowledgement of the entry that produced it."""

    stream: str
    message: Message
    key: str


def connect(url: str, *, retries: int = 8) -> redis.Redis:
    """A client that retries commands with jittered exponential backoff across connection loss."""
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=2.0), retries),
        retry_on_error=[ConnectionError, TimeoutError, OSError],
        health_check_interval=10,
    )


class Mempool:
    """Publishes typed messages to Redis streams and creates consumers over them."""

    def __init__(self, client: redis.Redis, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self.redis = client
        self.maxlen = maxlen

    @classmethod
    def from_url(cls, url: str, *, maxlen: int = DEFAULT_MAXLEN) -> Mempool:
        return cls(connect(url), maxlen=maxlen)

    async def close(self) -> None:
        await self.redis.aclose()

    def fields(self, message: Message, key: str) -> dict[bytes, bytes]:
        """Entry fields for `message`, carrying the current trace context."""
        return entry.encode(message, key, telemetry.inject())

    async def publish(self, stream: str, message: Message, *, key: str) -> str:
        """Append `message` to `stream` under idempotency `key` (consumers handle a key once); returns the id."""
        with telemetry.tracer().start_as_current_span(f"{stream} publish", kind=SpanKind.PRODUCER) as span:
            span.set_attribute("messaging.destination.name", stream)
            span.set_attribute("ax0n.key", key)
            entry_id = await self.redis.xadd(stream, self.fields(message, key), maxlen=self.maxlen, approximate=True)
        return entry_id.decode()

    async def publish_many(self, items: Sequence[Outbound]) -> list[str]:
        """Publish several messages in one round trip (pipelined, not atomic)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for item in items:
                pipe.xadd(item.stream, self.fields(item.message, item.key), maxlen=self.maxlen, approximate=True)
            ids = await pipe.execute()
        return [i.decode() for i in ids]

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
