"""Intake: finalized receipts from `ax0n:final` (group `settlers`) into the journal's queue.

The consumer's atomic commit appends the receipt to the queue and acknowledges the entry in one Lua script,
so a receipt is queued exactly once per request id however often it is delivered (docs/mempool.md).
"""

from __future__ import annotations

from ax0n.mempool import Entry, Outbound
from ax0n.v1 import types_pb2
from ax0n_settler.leaves import leaf_of


def handler(queue: str):
    """The consumer handler: receipts that cannot be settled go to the dead-letter stream (MalformedEntry)."""

    async def handle(entry: Entry[types_pb2.FinalizedReceipt]) -> list[Outbound]:
        leaf = leaf_of(entry.message)
        return [Outbound(queue, entry.message, leaf.request_id.hex())]

    return handle
