"""Finalized receipts as batch-circuit leaves (ax0n.zk.batch.Leaf), with the checks a settler can make alone."""

from __future__ import annotations

from ax0n.mempool import MalformedEntry
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n.zk.batch import Leaf


def _amount(value: str, what: str) -> int:
    try:
        amount = int(value)
    except ValueError:
        raise MalformedEntry(f"receipt.{what} is not an integer: {value!r}") from None
    if amount < 0:
        raise MalformedEntry(f"receipt.{what} is negative")
    return amount


def leaf_of(final: types_pb2.FinalizedReceipt) -> Leaf:
    """The leaf a finalized receipt settles as; MalformedEntry when it cannot be settled.

    The operator credited is the receipt's node id (the executor's signing address).
    """
    r = final.receipt
    cert = final.certificate
    if cert.verdict != types_pb2.VERDICT_VALID:
        raise MalformedEntry("certificate verdict is not VALID")
    try:
        digest = receipts.receipt_hash(r)
    except ValueError as exc:
        raise MalformedEntry(f"receipt cannot be hashed: {exc}") from exc
    if cert.request_id != r.request_id or cert.receipt_hash != digest:
        raise MalformedEntry("certificate does not cite this receipt")
    try:
        return Leaf(
            request_id=bytes(r.request_id),
            receipt_hash=digest,
            operator=bytes(r.node_id),
            client=bytes(r.client),
            fee=_amount(r.fee, "fee"),
            fee_cap=_amount(r.fee_cap, "fee_cap"),
        )
    except ValueError as exc:
        raise MalformedEntry(str(exc)) from exc
