"""Intake: finalized receipts from `ax0n:final` (group `settlers`) into the journal's queue.

The consumer's atomic commit appends the receipt to the queue and acknowledges the entry in one Lua script,
so a receipt is queued exactly once per request id however often it is delivered (docs/mempool.md).
"""

from __future__ import annotations

from ax0n.mempool import Entry, MalformedEntry, Outbound
from ax0n.spec.settlement import Unsettleable, check_final
from ax0n.v1 import types_pb2


def handler(queue: str):
    """The consumer handler: receipts that cannot be settled go to the dead-letter stream (MalformedEntry)."""

    async def handle(entry: Entry[types_pb2.FinalizedReceipt]) -> list[Outbound]:
        try:
            check_final(entry.message)
        except Unsettleable as exc:
            raise MalformedEntry(str(exc)) from exc
        return [Outbound(queue, entry.message, bytes(entry.message.receipt.request_id).hex())]

    return handle
