"""Intake: finalized receipts from `ax0n:final` (group `settlers`) into the journal's queue.

Nothing is queued because it is on the stream: each entry must be final (ax0n.spec.finality: a VALID certificate
of the request's own quorum, drawn from the validator set the chain held at the receipt's snapshot, over a receipt
that answers its client-signed request). An entry that is not is dead-lettered with the reason, so a forged entry
never blocks the genuine final of the same request; one this settler cannot decide yet (the validator set is
unknown here) stays pending and is retried. The consumer's atomic commit appends the receipt to the queue and
acknowledges the entry in one Lua script, so a receipt is queued exactly once per request id however often it is
delivered (docs/mempool.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ax0n.mempool import Entry, MalformedEntry, Outbound
from ax0n.v1 import types_pb2

FinalCheck = Callable[[types_pb2.FinalizedReceipt], str]  # why an entry is not final ('' when it is); blocking


def handler(queue: str, check: FinalCheck):
    """The consumer handler: entries that are not final go to the dead-letter stream (MalformedEntry)."""

    async def handle(entry: Entry[types_pb2.FinalizedReceipt]) -> list[Outbound]:
        if why := await asyncio.to_thread(check, entry.message):  # finality.Undecided propagates: retried later
            raise MalformedEntry(f"not final: {why}")
        return [Outbound(queue, entry.message, bytes(entry.message.receipt.request_id).hex())]

    return handle
