"""Quorum certificates (MeshSync): signing roots, signer bitmaps, forming and verifying aggregate signatures.

Every signed message is a 32-byte signing root built from plain bytes, as Ethereum's `compute_signing_root`:

    domain       = domain_type (4 bytes) || sha256(uint256_be(chain_id))[:28]
    signing_root = sha256(object_root || domain)

with object roots

    attestation: sha256(request_id || receipt_hash || uint8(verdict) || uint64_be(snapshot_block))
    batch:       sha256(batch_id || batch_root)
    fault:       sha256(receipt_hash)

so the Settlement contract reproduces a batch committee's message (batchSigningRoot) and a fault committee's
(faultSigningRoot: the receipt's quorum attests on-chain that the receipt was certified INVALID) with the SHA-256
precompile alone; each kind has its own domain type, so no signature of one kind verifies as another.
A request certificate holds an aggregate signature and a bitmap over committee seats (seat i is bit i % 8 of
byte i // 8); each seat weighs one, so it is final once `has_quorum(signers, committee size)`.

What Settlement checks (batches and quorum faults) is a **stake certificate** instead, as EigenLayer's
BLSSignatureChecker: its committee is every validator with bonded stake at a reference block
(`Committee.live`), and it names that block, the non-signers (ascending addresses) and the others' aggregate
signature; it holds once the signers have ≥ 2/3 of that block's stake (`verify_stake_certificate`, the
off-chain twin of NodeRegistry.checkCertificate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from itertools import pairwise

from ax0n.spec import bls, committee
from ax0n.spec.committee import Validator
from ax0n.spec.params import MAINNET, Params, has_quorum
from ax0n.v1 import types_pb2

DOMAIN_ATTESTATION = b"AXAT"
DOMAIN_BATCH = b"AXBT"
DOMAIN_FAULT = b"AXFT"
VALID = types_pb2.VERDICT_VALID
INVALID = types_pb2.VERDICT_INVALID


class InvalidCertificate(ValueError):
    """A certificate (or batch signature) that does not prove what it claims; the message says why."""


@dataclass(frozen=True, slots=True)
class Committee:
    """A drawn committee: registry indices and public keys by seat, at one snapshot."""

    snapshot_block: int
    members: tuple[int, ...]
    pubkeys: tuple[bytes, ...]
    stakes: tuple[int, ...] = ()  # by seat; set by `live` (stake certificates weigh seats by stake)

    @classmethod
    def draw(cls, validators: Sequence[Validator], members: Sequence[int], snapshot_block: int) -> Committee:
        return cls(snapshot_block, tuple(members), tuple(validators[i].pubkey for i in members))

    @classmethod
    def live(cls, validators: Sequence[Validator], snapshot_block: int) -> Committee:
        """Every validator with bonded stake at `snapshot_block`, in registry order: the committee of a stake
        certificate (exactly the keys NodeRegistry's aggregate holds at that block)."""
        members = [i for i, v in enumerate(validators) if v.stake > 0]
        return cls(
            snapshot_block,
            tuple(members),
            tuple(validators[i].pubkey for i in members),
            tuple(validators[i].stake for i in members),
        )

    @property
    def size(self) -> int:
        return len(self.members)


def draw_request_quorum(
    validators: Sequence[Validator], snapshot_block: int, snapshot_hash: bytes, request_id: bytes, size: int
) -> tuple[Committee, bytes]:
    """A request's quorum and its seed, from public data: the validator set and block hash of the route's routing
    snapshot, and the request id."""
    seed = committee.quorum_seed(snapshot_hash, request_id)
    return Committee.draw(validators, committee.compute_committee(validators, seed, size), snapshot_block), seed


def compute_domain(domain_type: bytes, chain_id: int) -> bytes:
    if len(domain_type) != 4:
        raise ValueError("domain type must be 4 bytes")
    return domain_type + sha256(chain_id.to_bytes(32, "big")).digest()[:28]


def compute_signing_root(object_root: bytes, domain: bytes) -> bytes:
    return sha256(object_root + domain).digest()


def attestation_root(request_id: bytes, receipt_hash: bytes, verdict: int, snapshot_block: int) -> bytes:
    if len(request_id) != 32 or len(receipt_hash) != 32:
        raise ValueError("request id and receipt hash must be 32 bytes")
    if verdict not in (VALID, INVALID):
        raise ValueError(f"verdict must be VALID or INVALID, got {verdict}")
    return sha256(request_id + receipt_hash + bytes([verdict]) + snapshot_block.to_bytes(8, "big")).digest()


def attestation_signing_root(
    request_id: bytes, receipt_hash: bytes, verdict: int, snapshot_block: int, chain_id: int
) -> bytes:
    root = attestation_root(request_id, receipt_hash, verdict, snapshot_block)
    return compute_signing_root(root, compute_domain(DOMAIN_ATTESTATION, chain_id))


def batch_signing_root(batch_id: bytes, batch_root: bytes, chain_id: int) -> bytes:
    if len(batch_id) != 32 or len(batch_root) != 32:
        raise ValueError("batch id and root must be 32 bytes")
    return compute_signing_root(sha256(batch_id + batch_root).digest(), compute_domain(DOMAIN_BATCH, chain_id))


def fault_signing_root(receipt_hash: bytes, chain_id: int) -> bytes:
    """What a fault committee signs for Settlement.challengeQuorumFault: the receipt (by its EIP-712 digest) was
    certified INVALID by its quorum."""
    if len(receipt_hash) != 32:
        raise ValueError("receipt hash must be 32 bytes")
    return compute_signing_root(sha256(receipt_hash).digest(), compute_domain(DOMAIN_FAULT, chain_id))


def certificate_signing_root(cert: types_pb2.QuorumCertificate, chain_id: int) -> bytes:
    return attestation_signing_root(cert.request_id, cert.receipt_hash, cert.verdict, cert.snapshot_block, chain_id)


def encode_bitmap(seats: Sequence[int], size: int) -> bytes:
    bitmap = bytearray((size + 7) // 8)
    for seat in seats:
        if not 0 <= seat < size:
            raise ValueError(f"seat {seat} outside a committee of {size}")
        bitmap[seat // 8] |= 1 << (seat % 8)
    return bytes(bitmap)


def decode_bitmap(bitmap: bytes, size: int) -> list[int]:
    """Seats set in `bitmap`; rejects a bitmap of the wrong length or with bits past `size`."""
    if len(bitmap) != (size + 7) // 8:
        raise InvalidCertificate(f"signer bitmap is {len(bitmap)} bytes, a committee of {size} needs {(size + 7) // 8}")
    seats = [i for i in range(len(bitmap) * 8) if bitmap[i // 8] >> (i % 8) & 1]
    if seats and seats[-1] >= size:
        raise InvalidCertificate("signer bitmap sets seats past the committee")
    return seats


def attest(
    committee: Committee,
    keys: Mapping[int, bls.SecretKey],
    request_id: bytes,
    receipt_hash: bytes,
    verdict: int,
    chain_id: int,
    reason: str = "",
) -> types_pb2.Attestation:
    """One attestation for every seat in `keys` (seat -> that seat's secret key): a single seat by index,
    several as an aggregate signature with a signer bitmap (signed once, with the sum of the keys)."""
    if not keys:
        raise ValueError("no seats to attest for")
    message = attestation_signing_root(request_id, receipt_hash, verdict, committee.snapshot_block, chain_id)
    seats = sorted(keys)
    att = types_pb2.Attestation(request_id=request_id, receipt_hash=receipt_hash, verdict=verdict, reason=reason)
    att.signature = bls.sign_many([keys[s] for s in seats], message)
    if len(seats) == 1:
        att.committee_index = seats[0]
    else:
        att.signers = encode_bitmap(seats, committee.size)
    return att


def attestation_seats(att: types_pb2.Attestation, size: int) -> list[int]:
    """The seats an attestation speaks for; raises InvalidCertificate on a malformed bitmap or index."""
    if att.signers:
        seats = decode_bitmap(att.signers, size)
        if not seats:
            raise InvalidCertificate("empty signer bitmap")
        return seats
    if not 0 <= att.committee_index < size:
        raise InvalidCertificate(f"seat {att.committee_index} outside a committee of {size}")
    return [att.committee_index]


def screen_signatures(committee: Committee, message: bytes, signatures: Mapping[int, bytes]) -> dict[int, bytes]:
    """The signatures that are valid for their seat's key over `message`.

    Optimistic: one fast-aggregate-verify of them all; only if that fails is each one checked alone.
    """
    parsed = {
        seat: sig for seat, sig in signatures.items() if 0 <= seat < committee.size and bls.signature_validate(sig)
    }
    if not parsed:
        return {}
    seats = sorted(parsed)
    aggregate = bls.aggregate([parsed[s] for s in seats])
    if bls.fast_aggregate_verify([committee.pubkeys[s] for s in seats], message, aggregate):
        return parsed
    return {s: sig for s, sig in parsed.items() if bls.verify(committee.pubkeys[s], message, sig)}


def combine(attestations: Sequence[types_pb2.Attestation], size: int) -> tuple[bytes, bytes]:
    """(signer bitmap, aggregate signature) of attestations over disjoint seats (a settler joins the batch
    committee's answers this way); raises InvalidCertificate when two claim one seat."""
    seats: set[int] = set()
    for att in attestations:
        claimed = attestation_seats(att, size)
        if not seats.isdisjoint(claimed):
            raise InvalidCertificate("two attestations claim the same seat")
        seats.update(claimed)
    return encode_bitmap(sorted(seats), size), bls.aggregate([a.signature for a in attestations])


def aggregate_seats(committee: Committee, signatures: Mapping[int, bytes]) -> tuple[bytes, bytes]:
    """(signer bitmap, aggregate signature) of already-screened signatures, one per seat."""
    seats = sorted(signatures)
    return encode_bitmap(seats, committee.size), bls.aggregate([signatures[s] for s in seats])


def verify_aggregate(committee: Committee, message: bytes, bitmap: bytes, signature: bytes) -> list[int]:
    """Signer seats of an aggregate signature over `message`, checked with one fast-aggregate-verify."""
    seats = decode_bitmap(bitmap, committee.size)
    if not seats:
        raise InvalidCertificate("no signers")
    if not bls.fast_aggregate_verify([committee.pubkeys[s] for s in seats], message, signature):
        raise InvalidCertificate("aggregate signature does not verify for the signers in the bitmap")
    return seats


def form_certificate(
    committee: Committee,
    request_id: bytes,
    receipt_hash: bytes,
    verdict: int,
    chain_id: int,
    signatures: Mapping[int, bytes],
    params: Params = MAINNET,
) -> types_pb2.QuorumCertificate | None:
    """A certificate from screened per-seat signatures for one (request, receipt, verdict), or None without quorum."""
    if not has_quorum(len(signatures), committee.size, params):
        return None
    seats = sorted(signatures)
    aggregate = bls.aggregate([signatures[s] for s in seats])
    return certificate_from_aggregate(committee, request_id, receipt_hash, verdict, chain_id, seats, aggregate, params)


def certificate_from_aggregate(
    committee: Committee,
    request_id: bytes,
    receipt_hash: bytes,
    verdict: int,
    chain_id: int,
    seats: Sequence[int],
    aggregate: bytes,
    params: Params = MAINNET,
) -> types_pb2.QuorumCertificate | None:
    """A certificate over `seats` whose signatures `aggregate` sums (checked once), or None without quorum."""
    if not has_quorum(len(seats), committee.size, params):
        return None
    cert = types_pb2.QuorumCertificate(
        request_id=request_id,
        receipt_hash=receipt_hash,
        verdict=verdict,
        snapshot_block=committee.snapshot_block,
        signers=encode_bitmap(seats, committee.size),
        aggregate_signature=aggregate,
        signed_weight=str(len(seats)),
        total_weight=str(committee.size),
    )
    verify_certificate(cert, committee, chain_id, params)
    return cert


def verify_certificate(
    cert: types_pb2.QuorumCertificate, committee: Committee, chain_id: int, params: Params = MAINNET
) -> list[int]:
    """Signer seats of a certificate that carries a quorum of `committee`; raises InvalidCertificate otherwise."""
    if cert.snapshot_block != committee.snapshot_block:
        raise InvalidCertificate("certificate names another snapshot than the committee's")
    message = certificate_signing_root(cert, chain_id)
    seats = verify_aggregate(committee, message, cert.signers, cert.aggregate_signature)
    if cert.signed_weight != str(len(seats)) or cert.total_weight != str(committee.size):
        raise InvalidCertificate("stated weights do not match the bitmap and committee")
    if not has_quorum(len(seats), committee.size, params):
        raise InvalidCertificate(f"{len(seats)} of {committee.size} seats signed: below quorum")
    return seats


def verify_batch_signature(
    committee: Committee,
    batch_id: bytes,
    batch_root: bytes,
    chain_id: int,
    signers: bytes,
    signature: bytes,
    params: Params = MAINNET,
) -> list[int]:
    """Signer seats of a batch committee's aggregate signature over the batch root, if they are a quorum."""
    seats = verify_aggregate(committee, batch_signing_root(batch_id, batch_root, chain_id), signers, signature)
    if not has_quorum(len(seats), committee.size, params):
        raise InvalidCertificate(f"{len(seats)} of {committee.size} batch committee seats signed: below quorum")
    return seats


def batch_reference_block(head: int, receipt_snapshots: Sequence[int], interval: int) -> int:
    """A batch certificate's reference block (the batch's committee_snapshot_block) when certified at chain head
    `head`: the newest routing rebuild block (a multiple of `interval`, so validators have its registry snapshot) at
    or below the head, and never older than the batch's newest receipt snapshot. Settlement takes it while it is at
    most node_epoch_length blocks old; a batch that waits longer is certified again at a newer one."""
    return max([head - head % interval, *receipt_snapshots])


def non_signers(committee: Committee, addresses: Sequence[str], signer_seats: Sequence[int]) -> list[str]:
    """The stake certificate's non-signers: the registered addresses (`addresses`, by seat) of the committee's
    seats not in `signer_seats`, in ascending order as NodeRegistry.checkCertificate requires."""
    if len(addresses) != committee.size:
        raise ValueError(f"{len(addresses)} addresses for a committee of {committee.size}")
    signed = set(signer_seats)
    return sorted((a for s, a in enumerate(addresses) if s not in signed), key=lambda a: int(a, 16))


def signed_stake(committee: Committee, signer_seats: Sequence[int]) -> int:
    return sum(committee.stakes[s] for s in set(signer_seats))


def verify_stake_certificate(
    committee: Committee,
    addresses: Sequence[str],
    message: bytes,
    nonsigners: Sequence[str],
    signature: bytes,
    params: Params = MAINNET,
) -> list[int]:
    """Signer seats of a stake certificate over `message` (NodeRegistry.checkCertificate's rules, off-chain):
    `nonsigners` are distinct committee addresses in ascending order, everyone else signed `signature`, and the
    signers hold ≥ 2/3 of the committee's stake. Raises InvalidCertificate otherwise."""
    seat_of = {a.lower(): s for s, a in enumerate(addresses)}
    values = [int(a, 16) for a in nonsigners]
    if any(b <= a for a, b in pairwise(values)):
        raise InvalidCertificate("non-signers are not in strictly ascending order")
    missing = [a for a in nonsigners if a.lower() not in seat_of]
    if missing:
        raise InvalidCertificate(f"non-signer {missing[0]} is not a validator with stake at the reference block")
    out = {seat_of[a.lower()] for a in nonsigners}
    seats = [s for s in range(committee.size) if s not in out]
    total = sum(committee.stakes)
    if not seats or not has_quorum(signed_stake(committee, seats), total, params):
        raise InvalidCertificate(f"signers hold {signed_stake(committee, seats)} of {total} stake: below 2/3")
    if not bls.fast_aggregate_verify([committee.pubkeys[s] for s in seats], message, signature):
        raise InvalidCertificate("aggregate signature does not verify for the signers")
    return seats


def certificate_signers(cert: types_pb2.QuorumCertificate, committee: Committee, chain_id: int) -> list[int]:
    """Registry indices of every validator whose signature the certificate's aggregate proves (for slashing)."""
    seats = verify_aggregate(
        committee, certificate_signing_root(cert, chain_id), cert.signers, cert.aggregate_signature
    )
    return [committee.members[s] for s in seats]


def fault_record(receipt: types_pb2.Receipt, cert: types_pb2.QuorumCertificate, reason: str) -> types_pb2.FaultRecord:
    """Slashing evidence against the receipt's node: a quorum certificate that the receipt is INVALID."""
    if cert.verdict != INVALID:
        raise ValueError("a fault record needs a certificate with verdict INVALID")
    return types_pb2.FaultRecord(receipt=receipt, certificate=cert, reason=reason)
