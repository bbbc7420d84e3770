"""The aggregator: gathers attestations per request and forms the quorum certificate once 2/3 of seats agree.

A VALID certificate finalizes the receipt (`FinalizedReceipt` for `ax0n:final`); an INVALID one becomes a
`FaultRecord` for slashing. An attestation speaks for one seat or, aggregated, for all the seats one
validator client holds. Attestations are screened optimistically (one fast-aggregate-verify over all of
them; each checked alone only when that fails), and a seat may be offered a few times, so a forged
attestation injected under honest seats cannot crowd out the real one.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.certificate import INVALID, VALID, Committee
from ax0n.spec.params import has_quorum
from ax0n.v1 import types_pb2
from ax0n_validator.client import Quorums, ReceiptHasher

MAX_OFFERS = 4  # attestations accepted per seat and verdict before further ones are dropped
MAX_OPEN = 10_000  # requests tracked at once; the oldest are dropped past it

Outcome = types_pb2.FinalizedReceipt | types_pb2.FaultRecord
Unit = tuple[tuple[int, ...], bytes]  # (seats, signature over all of them)


@dataclass
class _Tally:
    pending: list[Unit] = field(default_factory=list)  # not yet screened
    verified: list[Unit] = field(default_factory=list)  # disjoint seat sets
    covered: set[int] = field(default_factory=set)  # seats in `verified`
    offers: collections.Counter[int] = field(default_factory=collections.Counter)
    reasons: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class _Request:
    item: types_pb2.ProvedReceipt | None = None
    quorum: Committee | None = None
    receipt_hash: bytes = b""
    buffered: list[types_pb2.Attestation] = field(default_factory=list)
    tallies: dict[int, _Tally] = field(default_factory=dict)  # by verdict, for the receipt held
    done: bool = False


def _disjoint(units: list[Unit], taken: set[int]) -> list[Unit]:
    """Units in order, skipping any that overlaps seats already taken (a seat's signature counts once)."""
    chosen = []
    for seats, signature in units:
        if taken.isdisjoint(seats):
            chosen.append((seats, signature))
            taken.update(seats)
    return chosen


class Aggregator:
    def __init__(self, quorums: Quorums, receipt_hash: ReceiptHasher, chain_id: int) -> None:
        self.quorums, self.receipt_hash, self.chain_id, self.params = quorums, receipt_hash, chain_id, quorums.params
        self._open: collections.OrderedDict[bytes, _Request] = collections.OrderedDict()

    def _request(self, request_id: bytes) -> _Request:
        req = self._open.get(request_id)
        if req is None:
            req = self._open[request_id] = _Request()
            while len(self._open) > MAX_OPEN:
                self._open.popitem(last=False)
        return req

    def proved(self, request_id: bytes) -> types_pb2.ProvedReceipt | None:
        """The proved receipt held for `request_id` (the one a certificate for it is about), if still tracked."""
        req = self._open.get(request_id)
        return None if req is None else req.item

    def add_receipt(self, item: types_pb2.ProvedReceipt) -> Outcome | None:
        req = self._request(item.receipt.request_id)
        if req.item is not None:
            return self._equivocation(req.item.receipt, item.receipt)
        if req.done:
            return None
        drawn = self.quorums(item.receipt)
        if drawn is None:
            raise LookupError(f"validator set at block {item.receipt.route.snapshot_block} is unknown here")
        req.item, req.quorum, req.receipt_hash = item, drawn[0], self.receipt_hash(item.receipt)
        buffered, req.buffered = req.buffered, []
        outcome = None
        for att in buffered:
            outcome = outcome or self.add_attestation(att)
        return outcome

    def _equivocation(self, first: types_pb2.Receipt, second: types_pb2.Receipt) -> types_pb2.FaultRecord | None:
        """Evidence when one node key signed two different receipts for one request (each can be slashed once)."""
        if self.receipt_hash(first) == self.receipt_hash(second):
            return None
        try:
            receipts.verify(first)
            receipts.verify(second)
        except ValueError:
            return None  # an unsigned or forged copy binds nobody
        if bytes(first.node_id) != bytes(second.node_id):
            return None
        reason = f"equivocation: node 0x{bytes(first.node_id).hex()} signed two receipts for this request"
        return types_pb2.FaultRecord(receipt=first, conflicting=second, reason=reason)

    def add_attestation(self, att: types_pb2.Attestation) -> Outcome | None:
        """Record one attestation; returns the outcome when it completes a certificate."""
        req = self._request(att.request_id)
        if req.done:
            return None
        if req.quorum is None:
            if len(req.buffered) < MAX_OFFERS * self.params.validator_quorum_size:
                req.buffered.append(att)
            return None
        if att.receipt_hash != req.receipt_hash or att.verdict not in (VALID, INVALID):
            return None  # about another receipt (equivocation is the settler's to prove) or no verdict
        try:
            seats = tuple(qc.attestation_seats(att, req.quorum.size))
        except qc.InvalidCertificate:
            return None
        tally = req.tallies.setdefault(att.verdict, _Tally())
        if not tally.covered.isdisjoint(seats) or any(tally.offers[s] >= MAX_OFFERS for s in seats):
            return None
        tally.offers.update(seats)
        tally.pending.append((seats, att.signature))
        if att.reason:
            tally.reasons[att.reason] += 1
        return self._try_certify(req, att.verdict, tally)

    def _try_certify(self, req: _Request, verdict: int, tally: _Tally) -> Outcome | None:
        assert req.quorum is not None and req.item is not None
        quorum, request_id = req.quorum, req.item.receipt.request_id
        reachable = tally.covered.union(*(seats for seats, _ in tally.pending))
        if not has_quorum(len(reachable), quorum.size, self.params):
            return None
        message = qc.attestation_signing_root(
            request_id, req.receipt_hash, verdict, quorum.snapshot_block, self.chain_id
        )
        pending, tally.pending = tally.pending, []
        pending = [(seats, sig) for seats, sig in pending if bls.signature_validate(sig)]
        optimistic = _disjoint(pending, set(tally.covered))
        seats = [s for unit_seats, _ in optimistic for s in unit_seats]
        if optimistic and bls.fast_aggregate_verify(
            [quorum.pubkeys[s] for s in seats], message, bls.aggregate([sig for _, sig in optimistic])
        ):
            good = optimistic
        else:
            checked = [
                (s, sig)
                for s, sig in pending
                if bls.fast_aggregate_verify([quorum.pubkeys[i] for i in s], message, sig)
            ]
            good = _disjoint(checked, set(tally.covered))
        tally.verified += good
        for unit_seats, _ in good:
            tally.covered.update(unit_seats)
        cert = qc.certificate_from_aggregate(
            quorum,
            request_id,
            req.receipt_hash,
            verdict,
            self.chain_id,
            sorted(tally.covered),
            bls.aggregate([sig for _, sig in tally.verified]) if tally.verified else b"",
            self.params,
        )
        if cert is None:
            return None
        req.done = True
        item = req.item
        if verdict == VALID:
            return types_pb2.FinalizedReceipt(
                receipt=item.receipt, proof=item.proof, certificate=cert, output=item.output, request=item.request
            )
        reason = tally.reasons.most_common(1)[0][0] if tally.reasons else "quorum found the receipt invalid"
        return qc.fault_record(item.receipt, cert, reason)
