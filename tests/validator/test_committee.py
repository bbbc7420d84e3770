"""Committee sampling: the consensus-specs shuffle, stake-weighted seats, recomputation from public data."""

from __future__ import annotations

import collections
import hashlib
import json
import subprocess
import sys

import pytest

from ax0n.spec import committee
from ax0n.spec.committee import Shuffle, Validator, compute_committee, compute_shuffled_index

from .helpers import Registry

# (count, index, shuffled) from the consensus-specs pyspec (PyPI eth2spec 1.1.10, phase0
# compute_shuffled_index) with seed sha256(b"ax0n-vector-%d" % n) for the n-th row.
SPEC_VECTORS = [(1024, 0, 923), (1024, 1023, 271), (1000, 517, 127), (7, 3, 0), (100_000, 99_999, 32_568)]


@pytest.mark.parametrize("n", range(len(SPEC_VECTORS)))
def test_shuffle_matches_consensus_specs(n: int) -> None:
    count, index, expected = SPEC_VECTORS[n]
    seed = hashlib.sha256(b"ax0n-vector-%d" % n).digest()
    assert compute_shuffled_index(index, count, seed) == expected
    assert Shuffle(count, seed)(index) == expected


@pytest.mark.parametrize("count", [1, 2, 3, 255, 256, 257, 1_000])
def test_cached_shuffle_is_the_spec_permutation(count: int) -> None:
    seed = hashlib.sha256(b"perm %d" % count).digest()
    shuffle = Shuffle(count, seed)
    mapped = [shuffle(i) for i in range(count)]
    assert mapped == [compute_shuffled_index(i, count, seed) for i in range(count)]
    assert sorted(mapped) == list(range(count))


def test_quorum_is_distinct_deterministic_and_seed_dependent(registry: Registry) -> None:
    snapshot, request = b"\x01" * 32, b"\x02" * 32
    quorum = committee.request_quorum(registry.validators, snapshot, request, 256)
    assert len(quorum) == 256 == len(set(quorum))
    assert all(0 <= i < len(registry.validators) for i in quorum)
    assert quorum == committee.request_quorum(registry.validators, snapshot, request, 256)
    assert quorum != committee.request_quorum(registry.validators, snapshot, b"\x03" * 32, 256)
    assert quorum != committee.request_quorum(registry.validators, b"\x04" * 32, request, 256)


def test_seats_follow_stake() -> None:
    # 100 validators: 10 with 10x the stake of the rest. Over many draws of 10 seats, heavy ones sit far more often.
    validators = [Validator(bytes(48), (10 if i < 10 else 1) * 10**18) for i in range(100)]
    counts: collections.Counter[int] = collections.Counter()
    for r in range(300):
        counts.update(compute_committee(validators, hashlib.sha256(b"%d" % r).digest(), 10))
    heavy = sum(counts[i] for i in range(10)) / 10
    light = sum(counts[i] for i in range(10, 100)) / 90
    assert heavy > 4 * light


def test_zero_stake_never_sits_and_small_sets_seat_everyone() -> None:
    validators = [Validator(bytes(48), 0 if i % 2 else 5) for i in range(10)]
    seated = compute_committee(validators, b"\x09" * 32, 256)
    assert sorted(seated) == [0, 2, 4, 6, 8]
    assert compute_committee([Validator(bytes(48), 0)], b"\x09" * 32, 3) == []


def test_seeds_need_32_byte_inputs() -> None:
    with pytest.raises(ValueError):
        committee.quorum_seed(b"short", b"\x00" * 32)


def test_reexecution_subcommittee_is_a_subset_of_seats() -> None:
    sub = committee.reexecution_subcommittee(256, b"\x05" * 32, 5)
    assert len(sub) == 5 == len(set(sub))
    assert all(0 <= s < 256 for s in sub)


RECOMPUTE = """
import json, sys
from ax0n.spec.committee import Validator, request_quorum
data = json.load(sys.stdin)
validators = [Validator(bytes.fromhex(v["pubkey"]), int(v["stake"])) for v in data["validators"]]
print(json.dumps(request_quorum(validators, bytes.fromhex(data["snapshot_hash"]), bytes.fromhex(data["request_id"]), data["size"])))
"""


def test_an_independent_process_recomputes_the_same_quorum(registry: Registry) -> None:
    snapshot, request = hashlib.sha256(b"block").digest(), hashlib.sha256(b"request").digest()
    public = {
        "validators": [{"pubkey": v.pubkey.hex(), "stake": str(v.stake)} for v in registry.validators],
        "snapshot_hash": snapshot.hex(),
        "request_id": request.hex(),
        "size": 256,
    }
    result = subprocess.run(
        [sys.executable, "-c", RECOMPUTE], input=json.dumps(public), capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == committee.request_quorum(registry.validators, snapshot, request, 256)
