"""Committee sampling (MeshSync): pure functions anyone can recompute from public data.

A committee is drawn from the validator set of a routing snapshot like Ethereum's committees: the set is
permuted by the swap-or-not shuffle (consensus-specs `compute_shuffled_index`), then candidates are taken
in shuffled order and accepted with probability stake / max stake (as `compute_proposer_index` does with
effective balance, 16-bit random values as in Electra), skipping validators already seated, until
`size` distinct members sit. The seed is a hash no single party controls: the snapshot's block hash
with the request id (a request quorum). Settlement's certificates are signed by the whole staked set instead
(ax0n.spec.certificate.Committee.live).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import sha256

SHUFFLE_ROUND_COUNT = 90  # as in consensus-specs
MAX_RANDOM_VALUE = 2**16 - 1
QUORUM_SEED_DOMAIN = b"ax0n/quorum/v1"
SUBCOMMITTEE_SEED_DOMAIN = b"ax0n/reexec-subcommittee/v1"
DISPUTE_SEED_DOMAIN = b"ax0n/reexec-dispute/v1"


@dataclass(frozen=True, slots=True)
class Validator:
    """One registered validator key, as the registry holds it at the snapshot."""

    pubkey: bytes  # 48-byte compressed BLS12-381 G1 point (registered with a proof of possession)
    stake: int  # bonded stake in the token's smallest unit


def quorum_seed(snapshot_hash: bytes, request_id: bytes) -> bytes:
    """Seed of a request's quorum: the routing snapshot's block hash combined with the request id."""
    return sha256(QUORUM_SEED_DOMAIN + _bytes32(snapshot_hash) + _bytes32(request_id)).digest()


def subcommittee_seed(quorum_seed_value: bytes) -> bytes:
    """Seed of an LLM-tier re-execution sub-committee: the quorum's seed alone, fixed once the client has signed
    the request and the route's snapshot exists. Nothing the executor writes afterwards (its receipt's timings,
    output or signature) changes who re-executes it, so it cannot grind its receipt until colluders sit there."""
    return sha256(SUBCOMMITTEE_SEED_DOMAIN + _bytes32(quorum_seed_value)).digest()


def _bytes32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    return value


def compute_shuffled_index(index: int, index_count: int, seed: bytes) -> int:
    """Where `index` lands in the swap-or-not shuffle of `index_count` items (consensus-specs, verbatim)."""
    if not 0 <= index < index_count:
        raise ValueError("index out of range")
    for current_round in range(SHUFFLE_ROUND_COUNT):
        round_byte = current_round.to_bytes(1, "little")
        pivot = int.from_bytes(sha256(seed + round_byte).digest()[:8], "little") % index_count
        flip = (pivot + index_count - index) % index_count
        position = max(index, flip)
        source = sha256(seed + round_byte + (position // 256).to_bytes(4, "little")).digest()
        bit = (source[(position % 256) // 8] >> (position % 8)) % 2
        index = flip if bit else index
    return index


class Shuffle:
    """compute_shuffled_index for one (index_count, seed), with every round's pivot and source bits precomputed.

    Costs 90 · ceil(index_count / 256) hashes up front, then 90 integer steps per index: drawing a committee
    of k reads only the first few k positions, far fewer than a whole-list shuffle touches.
    """

    def __init__(self, index_count: int, seed: bytes) -> None:
        if index_count <= 0:
            raise ValueError("nothing to shuffle")
        self.count = index_count
        chunks = range((index_count + 255) // 256)
        self.rounds: list[tuple[int, bytes]] = []
        for r in range(SHUFFLE_ROUND_COUNT):
            round_byte = r.to_bytes(1, "little")
            pivot = int.from_bytes(sha256(seed + round_byte).digest()[:8], "little") % index_count
            # sources of consecutive 256-position chunks, concatenated: position p's bit is bit p % 8 of byte p // 8
            source = b"".join(sha256(seed + round_byte + c.to_bytes(4, "little")).digest() for c in chunks)
            self.rounds.append((pivot, source))

    def __call__(self, index: int) -> int:
        count = self.count
        if not 0 <= index < count:
            raise ValueError("index out of range")
        for pivot, source in self.rounds:
            flip = (pivot - index) % count
            position = index if index > flip else flip
            if source[position >> 3] >> (position & 7) & 1:
                index = flip
        return index


def _random_value(seed: bytes, i: int) -> int:
    digest = sha256(seed + (i // 16).to_bytes(8, "little")).digest()
    offset = i % 16 * 2
    return int.from_bytes(digest[offset : offset + 2], "little")


def compute_committee(validators: Sequence[Validator], seed: bytes, size: int) -> list[int]:
    """Registry indices of `size` distinct validators (fewer if fewer have stake), in seat order."""
    eligible = sum(1 for v in validators if v.stake > 0)
    size = min(size, eligible)
    if size <= 0:
        return []
    count = len(validators)
    shuffle = Shuffle(count, seed)
    max_stake = max(v.stake for v in validators)
    seated: list[int] = []
    taken: set[int] = set()
    i = 0
    while len(seated) < size:
        candidate = shuffle(i % count)
        if candidate not in taken and (
            validators[candidate].stake * MAX_RANDOM_VALUE >= max_stake * _random_value(seed, i)
            and validators[candidate].stake > 0
        ):
            seated.append(candidate)
            taken.add(candidate)
        i += 1
    return seated


def request_quorum(validators: Sequence[Validator], snapshot_hash: bytes, request_id: bytes, size: int) -> list[int]:
    return compute_committee(validators, quorum_seed(snapshot_hash, request_id), size)


def reexecution_subcommittee(quorum_size: int, seed: bytes, size: int) -> list[int]:
    """Seat positions (0..quorum_size-1) of the LLM-tier re-execution sub-committee: the first `size` shuffled."""
    shuffle = Shuffle(quorum_size, seed)
    return [shuffle(i) for i in range(min(size, quorum_size))]


def dispute_committee(quorum_size: int, quorum_seed_value: bytes, taken: Sequence[int], size: int) -> list[int]:
    """Seat positions of the committee an LLM-tier dispute escalates to: `size` seats of the quorum outside
    `taken` (the re-executing seats), in the order of their own shuffle (seeded by the quorum seed alone)."""
    shuffle = Shuffle(quorum_size, sha256(DISPUTE_SEED_DOMAIN + _bytes32(quorum_seed_value)).digest())
    order = (shuffle(i) for i in range(quorum_size))
    return [s for s in order if s not in taken][: max(0, size)]
