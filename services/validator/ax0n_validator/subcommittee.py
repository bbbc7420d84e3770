"""LLM tier: a few quorum seats re-execute the prefill; one of them finding a fault raises a dispute that a larger,
freshly drawn set of seats re-executes; the rest of the quorum adopts the outcome those seats signed.

One honest re-executing seat suffices: a receipt is VALID only if every re-executing seat signed VALID, or a
dispute was raised and a strict majority of the dispute seats signed VALID. A wrong receipt finalizes only if all
`reexecution_seats` seats collude (probability f^k for colluding stake share f), or a dispute is raised and a
majority of the `dispute_seats` seats collude. A missing re-execution vote leaves the receipt undecided (no
certificate by the request's deadline), never VALID.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ax0n.spec import bls, committee
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import INVALID, VALID, Committee
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2


def seats(quorum_seed: bytes, quorum_size: int, params: Params = MAINNET) -> list[int]:
    """Seat positions of the re-execution sub-committee: a function of the request's quorum seed alone."""
    seed = committee.subcommittee_seed(quorum_seed)
    return committee.reexecution_subcommittee(quorum_size, seed, params.reexecution_seats)


def dispute_seats(quorum_seed: bytes, quorum_size: int, params: Params = MAINNET) -> list[int]:
    """Seat positions a dispute escalates to: `dispute_seats` fresh seats outside the re-executing ones."""
    taken = seats(quorum_seed, quorum_size, params)
    return committee.dispute_committee(quorum_size, quorum_seed, taken, params.dispute_seats)


def votes_in(
    quorum: Committee,
    sub_seats: Sequence[int],
    request_id: bytes,
    receipt_hash: bytes,
    att: types_pb2.Attestation,
    chain_id: int,
) -> dict[int, int]:
    """Seat in `sub_seats` -> verdict that `att` proves with a valid BLS signature (alone or in an aggregate)."""
    if att.verdict not in (VALID, INVALID) or att.request_id != request_id or att.receipt_hash != receipt_hash:
        return {}
    try:
        signed = qc.attestation_seats(att, quorum.size)
    except qc.InvalidCertificate:
        return {}
    counted = [s for s in signed if s in sub_seats]
    if not counted:
        return {}
    message = qc.attestation_signing_root(request_id, receipt_hash, att.verdict, quorum.snapshot_block, chain_id)
    if not bls.fast_aggregate_verify([quorum.pubkeys[s] for s in signed], message, att.signature):
        return {}
    return dict.fromkeys(counted, att.verdict)


def majority(votes: dict[int, int], size: int) -> int | None:
    """The verdict a strict majority of `size` seats signed, or None while undecided."""
    for outcome in (VALID, INVALID):
        if sum(1 for v in votes.values() if v == outcome) > size // 2:
            return outcome
    return None


def disputed(sub_votes: dict[int, int]) -> bool:
    """Whether a re-executing seat signed INVALID: the receipt then goes to the dispute seats."""
    return INVALID in sub_votes.values()


def outcome(sub_votes: dict[int, int], sub_size: int, dispute_votes: dict[int, int], dispute_size: int) -> int | None:
    """The LLM-tier verdict from the re-executing seats' and the dispute seats' signed votes, or None while
    undecided. With no dispute seats (a quorum too small to hold them) a dispute stands: INVALID."""
    if disputed(sub_votes):
        return majority(dispute_votes, dispute_size) if dispute_size else INVALID
    return VALID if len(sub_votes) == sub_size and sub_size > 0 else None


def verdict(
    quorum: Committee,
    seed: bytes,
    request_id: bytes,
    receipt_hash: bytes,
    attestations: Iterable[types_pb2.Attestation],
    chain_id: int,
    params: Params = MAINNET,
) -> int | None:
    """The verdict `outcome` gives over these attestations (a seat's first proven verdict counts; unsigned,
    mis-signed or off-subject attestations do not)."""
    sub, dispute = seats(seed, quorum.size, params), dispute_seats(seed, quorum.size, params)
    sub_votes: dict[int, int] = {}
    dispute_votes: dict[int, int] = {}
    for att in list(attestations):
        for seat, vote in votes_in(quorum, sub, request_id, receipt_hash, att, chain_id).items():
            sub_votes.setdefault(seat, vote)
        for seat, vote in votes_in(quorum, dispute, request_id, receipt_hash, att, chain_id).items():
            dispute_votes.setdefault(seat, vote)
    return outcome(sub_votes, len(sub), dispute_votes, len(dispute))
