"""NeuralRoute: determinism across processes, weighted frequencies, eligibility, re-routing."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ax0n.spec import routing
from ax0n.spec.routing import (
    DEFAULT_WEIGHTS,
    AliasTable,
    LatencySample,
    LivenessBeat,
    Node,
    NodeStats,
    NoRoute,
    Snapshot,
    build_index,
    route,
    selection_weight,
    window_stats,
)
from tests.router.snapshots import TOKEN, make_snapshot

ROUTE_SCRIPT = """
import json, sys
from ax0n.spec.routing import Snapshot, build_index, route
snap = Snapshot.from_json(open(sys.argv[1]).read())
index = build_index(snap)
out = []
for i in range(int(sys.argv[2])):
    rid = i.to_bytes(32, "big")
    r = route(index, rid, "m1", attempt=i % 3)
    out.append([r.cluster, r.node_id.hex(), r.attempt])
print(json.dumps({"hash": index.snapshot_hash.hex(), "routes": out}))
"""


def chi_square_critical(df: int, z: float = 3.719) -> float:
    """Wilson–Hilferty approximation of the chi-square quantile; z = 3.719 is the one-sided p = 1e-4 point."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def test_same_route_in_two_processes(tmp_path: Path) -> None:
    snap = make_snapshot(2_000, 12)
    path = tmp_path / "snap.json"
    path.write_text(snap.to_json())
    n = 300
    results = []
    for hash_seed in ("1", "2"):  # different str-hash seeds: set/dict order cannot leak into routes
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [sys.executable, "-c", ROUTE_SCRIPT, str(path), str(n)], capture_output=True, text=True, env=env, check=True
        )
        results.append(json.loads(proc.stdout))
    assert results[0] == results[1]
    index = build_index(Snapshot.from_json(path.read_text()))
    here = [route(index, i.to_bytes(32, "big"), "m1", attempt=i % 3) for i in range(n)]
    assert results[0]["routes"] == [[r.cluster, r.node_id.hex(), r.attempt] for r in here]
    assert results[0]["hash"] == snap.hash().hex()
    assert len({tuple(r) for r in results[0]["routes"]}) > 50  # routes actually vary


def test_snapshot_json_roundtrip_and_hash_is_order_independent() -> None:
    snap = make_snapshot(50, 4)
    again = Snapshot.from_json(snap.to_json())
    assert again == snap
    shuffled = Snapshot(snap.block, snap.block_hash, tuple(reversed(snap.nodes)), snap.weights)
    assert shuffled.hash() == snap.hash()
    changed = Snapshot(snap.block, snap.block_hash, snap.nodes, dataclasses.replace(DEFAULT_WEIGHTS, stake=3))
    assert changed.hash() != snap.hash()


def test_alias_table_is_exact() -> None:
    weights = [5, 1, 0, 17, 3, 3, 1_000_003, 2]
    table = AliasTable.build(weights)
    n = len(weights)
    mass = [0] * n  # probability of each outcome, in units of 1 / (n * total)
    for col in range(n):
        mass[col] += table.prob[col]
        mass[table.alias[col]] += table.total - table.prob[col]
    assert mass == [w * n for w in weights]


def test_pick_frequencies_match_weights_over_100k_picks() -> None:
    snap = make_snapshot(24, 3, models=("m0",))
    index = build_index(snap)
    weights = {n.node_id: selection_weight(n, snap.weights) for n in snap.nodes}
    total = sum(weights.values())
    picks = 100_000
    counts = Counter(route(index, i.to_bytes(32, "big"), "m0").node_id for i in range(picks))
    assert set(counts) <= {nid for nid, w in weights.items() if w}
    eligible = [nid for nid, w in weights.items() if w]
    chi2 = sum((counts[nid] - picks * weights[nid] / total) ** 2 / (picks * weights[nid] / total) for nid in eligible)
    df = len(eligible) - 1
    assert chi2 < chi_square_critical(df), (chi2, df)
    # and the test can fail: uniform weights are rejected by the same statistic
    uniform = sum((counts[nid] - picks / len(eligible)) ** 2 / (picks / len(eligible)) for nid in eligible)
    assert uniform > chi_square_critical(df)


def test_ineligible_nodes_are_never_routed_to() -> None:
    w = DEFAULT_WEIGHTS
    good = NodeStats(9_000, 500, 20)
    nodes = (
        Node(b"\x01" * 32, b"\xaa" * 20, 10 * TOKEN, "a", ("m",), good),
        Node(b"\x02" * 32, b"\xaa" * 20, 10 * TOKEN, "b", ("m",), good, active=False),
        Node(b"\x03" * 32, b"\xaa" * 20, 10 * TOKEN, "c", ("m",), NodeStats(w.min_uptime_bps - 1, 500, 20)),
        Node(b"\x04" * 32, b"\xaa" * 20, 0, "d", ("m",), good),
        Node(b"\x05" * 32, b"\xaa" * 20, 10 * TOKEN, "e", ("other",), good),
    )
    index = build_index(Snapshot(16, b"\x00" * 32, nodes, w))
    assert {route(index, i.to_bytes(32, "big"), "m").node_id for i in range(200)} == {b"\x01" * 32}
    with pytest.raises(NoRoute):
        route(index, b"\x00" * 32, "unknown-model")
    with pytest.raises(NoRoute):
        route(index, b"\x00" * 32, "m", attempt=1)  # only one cluster serves m


def test_weight_is_linear_in_stake_and_prefers_uptime_and_latency() -> None:
    w = DEFAULT_WEIGHTS
    stats = NodeStats(9_000, 800, 50)
    whole = selection_weight(Node(b"\x01" * 32, b"\x00" * 20, 100 * TOKEN, "a", ("m",), stats), w)
    half = selection_weight(Node(b"\x02" * 32, b"\x00" * 20, 50 * TOKEN, "a", ("m",), stats), w)
    assert whole == 2 * half  # splitting stake over two nodes gains nothing
    slow = NodeStats(9_000, 4_000, 50)
    flaky = NodeStats(6_000, 800, 50)
    node = Node(b"\x03" * 32, b"\x00" * 20, 100 * TOKEN, "a", ("m",), slow)
    assert selection_weight(node, w) < whole
    assert selection_weight(Node(b"\x03" * 32, b"\x00" * 20, 100 * TOKEN, "a", ("m",), flaky), w) < whole


def test_reroute_attempts_visit_distinct_clusters() -> None:
    index = build_index(make_snapshot(400, 8, models=("m0",)))
    for i in range(50):
        rid = i.to_bytes(32, "big")
        clusters = [route(index, rid, "m0", attempt=a).cluster for a in range(8)]
        assert len(set(clusters)) == 8
        assert routing.cluster_order(index, rid, "m0", 3) == routing.cluster_order(index, rid, "m0", 8)[:3]


def test_window_stats_uses_only_the_window() -> None:
    a, b, c, d = (bytes([i]) * 32 for i in (10, 11, 12, 13))
    # a beats in three of every four 10 ms slots; c in every slot but registered at 900; d registered at 995
    beats = [LivenessBeat(a, t) for t in range(1, 1_001) if ((t - 1) // 10) % 4 != 0] + [LivenessBeat(b, 5)]
    beats += [LivenessBeat(n, t) for n in (c, d) for t in range(1, 1_001)]
    samples = [LatencySample(a, 10 * k, 10 * k) for k in range(1, 101)] + [LatencySample(b, 2_000, 1)]
    registered = {a: 0, b: 0, c: 900, d: 995}
    stats = window_stats(beats, samples, registered, start_ms=600, end_ms=1_000, slot_ms=10)  # slots 60..99
    assert stats[a] == NodeStats(uptime_bps=7_500, p95_latency_ms=980, samples=40)
    assert stats[b] == NodeStats()  # its only observations fall outside the window
    assert stats[c].uptime_bps == 10_000  # counted from its registration: slots 90..99, all live
    assert stats[d].uptime_bps == 0  # no whole slot since it registered: no evidence, no uptime
    assert window_stats(beats, samples, {}, 600, 1_000, 10) == {}  # only registered nodes get stats
    assert routing.uptime_bps([615, 1_000], 605, 1_000, 10) == 2 * 10_000 // 39  # slot 60 is cut: 61..99


@pytest.mark.parametrize("seed", range(6))
def test_fast_rebuild_is_bit_identical_to_the_reference(seed: int) -> None:
    """The optimised canonical encoding, hash and index equal the straightforward reference, field by field,
    over snapshots with inactive, unstaked and offline nodes, repeated models and non-ASCII names."""
    import random

    from tests.router import reference_index

    rng = random.Random(seed)
    base = make_snapshot(3_000, 1 + seed * 7, models=("m0", "m1", "mödel-2"), seed=seed)
    nodes = []
    for n in base.nodes:
        roll = rng.random()
        if roll < 0.05:
            n = dataclasses.replace(n, active=False)
        elif roll < 0.10:
            n = dataclasses.replace(n, stake=0)
        elif roll < 0.15:
            n = dataclasses.replace(n, stats=NodeStats(rng.randint(0, 2_000), 0, 0))
        elif roll < 0.20:
            n = dataclasses.replace(n, models=(*n.models, n.models[0]), cluster=f"кластер-{rng.randint(0, 3)}")
        nodes.append(n)
    snap = Snapshot(base.block, base.block_hash, tuple(nodes), base.weights)
    assert snap.canonical_bytes() == reference_index.canonical_bytes(snap)
    fast, reference = build_index(snap), reference_index.build_index(snap)
    assert fast == reference
    assert fast.snapshot_hash == snap.hash()


def test_fast_alias_table_equals_the_reference_on_ties() -> None:
    """Exact ties (a residual equal to the total) decide which stack an index goes to: both builds agree."""
    import random

    from tests.router import reference_index

    rng = random.Random(3)
    cases = [[1] * 5, [2, 2, 1, 3], [3, 1], [1, 1, 2], [5], [4, 0, 4, 0]]
    cases += [[rng.randint(0, 4) + 1 for _ in range(rng.randint(1, 40))] for _ in range(200)]
    for weights in cases:
        assert AliasTable.build(weights) == reference_index.alias_table(weights), weights


def test_agreed_samples_follow_the_signers_not_the_first_writer() -> None:
    """Per request: each signer once, the node most signers name (a tie: the earliest named), the lower median of
    their latencies, the first report's time; a request first reported in the look-back is left out."""
    a, b, rid = b"\xaa" * 32, b"\xbb" * 32, b"\x01" * 32
    report = routing.SampleReport
    reports = [
        report(rid, b"v2", b, 11, 1),  # first, outvoted
        report(rid, b"v0", a, 12, 500),
        report(rid, b"v0", a, 13, 1),  # v0 again: its first report stands
        report(rid, b"v1", a, 14, 700),
        report(b"\x02" * 32, b"v0", b, 15, 40),  # a tie of one each: the earliest named node
        report(b"\x02" * 32, b"v1", a, 16, 30),
        report(b"\x03" * 32, b"v0", a, 5, 9),  # first reported before the window
        report(b"\x03" * 32, b"v1", a, 17, 9),
    ]
    assert routing.agreed_samples(reports, start_ms=10) == [
        routing.LatencySample(a, 11, 500),
        routing.LatencySample(b, 15, 40),
    ]
