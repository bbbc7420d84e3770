"""The routing index as first written (before the rebuild was optimised): the reference the fast build must equal
bit for bit, so every validator recomputes the same index whichever version it runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from eth_utils import keccak

from ax0n.spec.routing import (
    AliasTable,
    ClusterRoutes,
    ModelRoutes,
    RoutingIndex,
    Snapshot,
    selection_weight,
)


def _str(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


def canonical_bytes(snapshot: Snapshot) -> bytes:
    w = snapshot.weights
    parts = [
        snapshot.block.to_bytes(8, "big"),
        snapshot.block_hash,
        b"".join(v.to_bytes(4, "big") for v in (w.stake, w.uptime, w.latency, w.latency_ref_ms, w.min_uptime_bps)),
    ]
    for n in sorted(snapshot.nodes, key=lambda n: n.node_id):
        parts += [
            n.node_id,
            n.operator,
            n.stake.to_bytes(32, "big"),
            _str(n.cluster),
            len(n.models).to_bytes(2, "big"),
            *(_str(m) for m in sorted(n.models)),
            n.stats.uptime_bps.to_bytes(4, "big"),
            n.stats.p95_latency_ms.to_bytes(4, "big"),
            n.stats.samples.to_bytes(4, "big"),
            b"\x01" if n.active else b"\x00",
        ]
    return b"".join(parts)


def alias_table(weights: Sequence[int]) -> AliasTable:
    n, total = len(weights), sum(weights)
    scaled = [w * n for w in weights]
    prob, alias = [total] * n, list(range(n))
    small = [i for i in range(n) if scaled[i] < total]
    large = [i for i in range(n) if scaled[i] >= total]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= total - scaled[s]
        (small if scaled[g] < total else large).append(g)
    return AliasTable(total, tuple(prob), tuple(alias))


def build_index(snapshot: Snapshot) -> RoutingIndex:
    w = snapshot.weights
    grouped: dict[str, dict[str, list[tuple[bytes, int]]]] = defaultdict(lambda: defaultdict(list))
    for node in sorted(snapshot.nodes, key=lambda n: n.node_id):
        weight = selection_weight(node, w)
        if weight:
            for model in set(node.models):
                grouped[model][node.cluster].append((node.node_id, weight))
    models = {}
    for model, clusters in grouped.items():
        routes = tuple(
            ClusterRoutes(
                name,
                sum(wt for _, wt in members),
                tuple(nid for nid, _ in members),
                alias_table([wt for _, wt in members]),
            )
            for name, members in sorted(clusters.items())
        )
        models[model] = ModelRoutes(routes, alias_table([c.weight for c in routes]))
    return RoutingIndex(snapshot.block, snapshot.block_hash, keccak(canonical_bytes(snapshot)), models)
