"""Routing snapshots for tests: deterministic pseudo-random registry states."""

from __future__ import annotations

import random

from ax0n.spec.routing import Node, NodeStats, Snapshot

TOKEN = 10**18


def make_snapshot(n_nodes: int, n_clusters: int, models: tuple[str, ...] = ("m0", "m1"), seed: int = 1) -> Snapshot:
    """`n_nodes` nodes spread over `n_clusters` clusters; cluster c serves models[c % len] and models[(c+1) % len]."""
    rng = random.Random(seed)
    nodes = []
    for i in range(n_nodes):
        c = i % n_clusters
        served = tuple(sorted({models[c % len(models)], models[(c + 1) % len(models)]}))
        stats = NodeStats(rng.randint(5_000, 10_000), rng.randint(40, 4_000), rng.randint(0, 500))
        nodes.append(
            Node(
                node_id=rng.randbytes(32),
                operator=rng.randbytes(20),
                stake=rng.randint(1_000, 1_000_000) * TOKEN,
                cluster=f"cluster-{c}",
                models=served,
                stats=stats,
            )
        )
    return Snapshot(block=1_600, block_hash=bytes(range(32)), nodes=tuple(nodes))
