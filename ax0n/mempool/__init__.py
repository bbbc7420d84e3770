"""The Redis-streams mempool every service uses. See docs/mempool.md."""

from ax0n.mempool.consumer import Consumer, Handler, Sharded
from ax0n.mempool.entry import Entry, MalformedEntry
from ax0n.mempool.pool import Backpressure, Mempool, Outbound, connect

__all__ = [
    "Backpressure",
    "Consumer",
    "Entry",
    "Handler",
    "MalformedEntry",
    "Mempool",
    "Outbound",
    "Sharded",
    "connect",
]
