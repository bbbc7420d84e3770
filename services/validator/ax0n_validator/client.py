"""The validator client: for each proved receipt, find this process's seats in the quorum, verify, attest."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ax0n.spec import certificate as qc
from ax0n.spec.certificate import INVALID, VALID, Committee
from ax0n.spec.finality import ValidatorSets
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2
from ax0n_validator import checks as member
from ax0n_validator import subcommittee
from ax0n_validator.keys import Keystore

ValidatorSetSource = ValidatorSets  # snapshot block -> (block hash, validator set); None if unknown here
ReceiptHasher = Callable[[types_pb2.Receipt], bytes]  # canonical receipt hash (what the node signed)
MAX_PENDING = 10_000  # LLM-tier requests waiting for their sub-committee


def draw_quorum(sets: ValidatorSetSource, receipt: types_pb2.Receipt, params: Params) -> tuple[Committee, bytes] | None:
    """The request's quorum and its seed, from public data: the snapshot's block hash and the request id."""
    known = sets(receipt.route.snapshot_block)
    if known is None:
        return None
    block_hash, validators = known
    return qc.draw_request_quorum(
        validators, receipt.route.snapshot_block, block_hash, receipt.request_id, params.validator_quorum_size
    )


class Quorums:
    """draw_quorum with the last few thousand quorums kept: the client and the aggregator share one."""

    def __init__(self, sets: ValidatorSetSource, params: Params = MAINNET, size: int = 4_096) -> None:
        self.sets, self.params, self.size = sets, params, size
        self._cache: collections.OrderedDict[tuple[int, bytes], tuple[Committee, bytes]] = collections.OrderedDict()

    def __call__(self, receipt: types_pb2.Receipt) -> tuple[Committee, bytes] | None:
        key = (receipt.route.snapshot_block, receipt.request_id)
        hit = self._cache.get(key)
        if hit is None:
            hit = draw_quorum(self.sets, receipt, self.params)
            if hit is None:
                return None
            self._cache[key] = hit
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return hit


@dataclass
class _Pending:
    item: types_pb2.ProvedReceipt
    quorum: Committee
    receipt_hash: bytes
    sub_seats: list[int]
    dispute_seats: list[int]
    own_seats: list[int]  # this process's seats still to sign
    sub_votes: dict[int, int] = field(default_factory=dict)  # re-executing seat -> its signed verdict
    dispute_votes: dict[int, int] = field(default_factory=dict)  # dispute seat -> its signed verdict


class ValidatorClient:
    """Holds many keys; attests for every seat they hold in each request's quorum."""

    def __init__(
        self,
        keys: Keystore,
        quorums: Quorums,
        checks: member.MemberChecks,
        receipt_hash: ReceiptHasher,
        chain_id: int,
    ) -> None:
        self.keys, self.quorums, self.checks = keys, quorums, checks
        self.receipt_hash, self.chain_id = receipt_hash, chain_id
        self._pending: collections.OrderedDict[bytes, _Pending] = collections.OrderedDict()

    def _sign(
        self, quorum: Committee, seats: Sequence[int], request_id: bytes, receipt_hash: bytes, finding: member.Finding
    ) -> list[types_pb2.Attestation]:
        """One attestation (aggregated over `seats`) with the verdict `finding` gives."""
        keys = {seat: self.keys[quorum.pubkeys[seat]] for seat in seats}
        verdict = VALID if finding.ok else INVALID
        return [qc.attest(quorum, keys, request_id, receipt_hash, verdict, self.chain_id, finding.reason)]

    async def on_proved(self, item: types_pb2.ProvedReceipt) -> list[types_pb2.Attestation]:
        """Attestations for this process's seats (none when it holds no seat or cannot verify this tier yet)."""
        receipt = item.receipt
        drawn = self.quorums(receipt)
        if drawn is None:
            return []
        quorum, seed = drawn
        own = [s for s, pk in enumerate(quorum.pubkeys) if pk in self.keys]
        if not own:
            return []
        receipt_hash = self.receipt_hash(receipt)
        if receipt.tier == types_pb2.TIER_ZK:
            finding = member.check_zk(item, self.checks, self.chain_id)
            return [] if finding is None else self._sign(quorum, own, receipt.request_id, receipt_hash, finding)
        if receipt.tier != types_pb2.TIER_LLM:
            return self._sign(
                quorum, own, receipt.request_id, receipt_hash, member.Finding(False, "receipt has no tier")
            )
        return await self._llm(item, quorum, seed, own, receipt_hash)

    async def _llm(
        self, item: types_pb2.ProvedReceipt, quorum: Committee, seed: bytes, own: list[int], receipt_hash: bytes
    ) -> list[types_pb2.Attestation]:
        receipt = item.receipt
        params = self.quorums.params
        sub_seats = subcommittee.seats(seed, quorum.size, params)
        common = member.check_common(item, self.checks, self.chain_id)
        if not common.ok:  # no re-execution needed to reject it
            return self._sign(quorum, own, receipt.request_id, receipt_hash, common)
        out = await self._reexecute(item, quorum, [s for s in own if s in sub_seats], receipt_hash)
        rest = [s for s in own if s not in sub_seats]
        if not rest:
            return out
        dispute = subcommittee.dispute_seats(seed, quorum.size, params)
        pending = self._pending[receipt.request_id] = _Pending(item, quorum, receipt_hash, sub_seats, dispute, rest)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        return out + await self._observe(pending, receipt.request_id, out)

    async def _reexecute(
        self, item: types_pb2.ProvedReceipt, quorum: Committee, seats: list[int], receipt_hash: bytes
    ) -> list[types_pb2.Attestation]:
        """Re-execute and sign for `seats` (none when it holds none there or has no re-executor: it abstains)."""
        if not seats or self.checks.reexecute is None:
            return []
        finding = await self.checks.reexecute(item)
        return self._sign(quorum, seats, item.receipt.request_id, receipt_hash, finding)

    async def on_attestation(self, att: types_pb2.Attestation) -> list[types_pb2.Attestation]:
        """Feed an attestation seen on the stream; returns this process's LLM-tier attestations it unblocks (a
        dispute it sits on makes it re-execute first)."""
        pending = self._pending.get(att.request_id)
        return [] if pending is None else await self._observe(pending, att.request_id, [att])

    async def _observe(
        self, p: _Pending, request_id: bytes, atts: Sequence[types_pb2.Attestation]
    ) -> list[types_pb2.Attestation]:
        out: list[types_pb2.Attestation] = []
        self._count(p, request_id, atts)
        on_dispute = [s for s in p.own_seats if s in p.dispute_seats]
        if subcommittee.disputed(p.sub_votes) and on_dispute:
            p.own_seats = [s for s in p.own_seats if s not in on_dispute]
            out = await self._reexecute(p.item, p.quorum, on_dispute, p.receipt_hash)
            self._count(p, request_id, out)
        outcome = subcommittee.outcome(p.sub_votes, len(p.sub_seats), p.dispute_votes, len(p.dispute_seats))
        if outcome is None or request_id not in self._pending:
            return out
        del self._pending[request_id]
        if not p.own_seats:
            return out
        if outcome == VALID:
            finding = member.OK
        else:
            finding = member.Finding(False, "re-execution found the fingerprint invalid (dispute upheld)")
        return out + self._sign(p.quorum, p.own_seats, request_id, p.receipt_hash, finding)

    def _count(self, p: _Pending, request_id: bytes, atts: Sequence[types_pb2.Attestation]) -> None:
        for att in atts:
            for seat, vote in subcommittee.votes_in(
                p.quorum, p.sub_seats, request_id, p.receipt_hash, att, self.chain_id
            ).items():
                p.sub_votes.setdefault(seat, vote)
            for seat, vote in subcommittee.votes_in(
                p.quorum, p.dispute_seats, request_id, p.receipt_hash, att, self.chain_id
            ).items():
                p.dispute_votes.setdefault(seat, vote)
