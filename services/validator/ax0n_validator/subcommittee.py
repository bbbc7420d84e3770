"""LLM tier: a few quorum seats re-execute the prefill; the rest adopt the verdict a majority of them signed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ax0n.spec import bls, committee
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import INVALID, VALID, Committee
from ax0n.v1 import types_pb2

SUBCOMMITTEE_SIZE = 5  # re-executing seats per LLM-tier request


def seats(quorum_seed: bytes, receipt_hash: bytes, quorum_size: int, size: int = SUBCOMMITTEE_SIZE) -> list[int]:
    """Seat positions of the re-execution sub-committee, drawn once the receipt exists."""
    return committee.reexecution_subcommittee(quorum_size, committee.subcommittee_seed(quorum_seed, receipt_hash), size)


def votes_in(
    quorum: Committee,
    sub_seats: Sequence[int],
    request_id: bytes,
    receipt_hash: bytes,
    att: types_pb2.Attestation,
    chain_id: int,
) -> dict[int, int]:
    """Sub-committee seat -> verdict that `att` proves with a valid BLS signature (alone or in an aggregate)."""
    if att.verdict not in (VALID, INVALID) or att.request_id != request_id or att.receipt_hash != receipt_hash:
        return {}
    try:
        seats = qc.attestation_seats(att, quorum.size)
    except qc.InvalidCertificate:
        return {}
    counted = [s for s in seats if s in sub_seats]
    if not counted:
        return {}
    message = qc.attestation_signing_root(request_id, receipt_hash, att.verdict, quorum.snapshot_block, chain_id)
    if not bls.fast_aggregate_verify([quorum.pubkeys[s] for s in seats], message, att.signature):
        return {}
    return dict.fromkeys(counted, att.verdict)


def majority(votes: dict[int, int], sub_size: int) -> int | None:
    """The verdict a strict majority of the sub-committee's seats signed, or None while undecided."""
    for outcome in (VALID, INVALID):
        if sum(1 for v in votes.values() if v == outcome) > sub_size // 2:
            return outcome
    return None


def verdict(
    quorum: Committee,
    sub_seats: Sequence[int],
    request_id: bytes,
    receipt_hash: bytes,
    attestations: Iterable[types_pb2.Attestation],
    chain_id: int,
) -> int | None:
    """The verdict a strict majority of sub-committee seats signed for this receipt, or None while undecided.

    A seat's first proven verdict counts; unsigned, mis-signed or off-subject attestations do not count.
    """
    votes: dict[int, int] = {}
    for att in attestations:
        for seat, vote in votes_in(quorum, sub_seats, request_id, receipt_hash, att, chain_id).items():
            votes.setdefault(seat, vote)
    return majority(votes, len(sub_seats))
