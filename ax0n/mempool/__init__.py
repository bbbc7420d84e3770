"""The Redis-streams mempool every service uses. See docs/mempool.md."""

from ax0n.mempool.consumer import Consumer, Handler
from ax0n.mempool.entry import Entry, MalformedEntry
from ax0n.mempool.pool import Mempool, Outbound, connect

__all__ = ["Consumer", "Entry", "Handler", "MalformedEntry", "Mempool", "Outbound", "connect"]
