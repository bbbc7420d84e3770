"""NeuralRoute: the deterministic routing index, a pure function validators recompute.

Every `routing_rebuild_interval` blocks a `Snapshot` is taken at block B: the NodeRegistry state at B
(nodes, operators, stake, cluster, served models) plus each node's `NodeStats` over the stats window
ending at B's timestamp (`ax0n.runtime.snapshots` builds it). `build_index(snapshot)` turns it into alias tables; `route(index, request_id,
model_id)` picks a cluster and a node in it. Same snapshot + same request id → same route, on any
machine: only integers, sha256/keccak256, and inputs in canonical order.

Where the stats come from (ax0n.runtime.stats reads them; docs/router.md says what a node can and cannot game):
- uptime: the share of liveness slots in the window holding a heartbeat on `ax0n:heartbeat` that the
  node's registered key signed and that Redis appended within a skew bound of its signed time
  (`LivenessBeat`); Redis assigns the entry ids, so an old heartbeat cannot be replayed into a later slot;
- p95 latency: the time from the request's append to `ax0n:req:{cluster}` to its receipt's append to
  `ax0n:exec`, both Redis-assigned entry ids, published on `ax0n:latency` by the aggregator that certified
  the receipt VALID (`LatencySample`); a node's own `Timings` are not used. Each sample is signed by the
  aggregator's registered validator key (`latency_signing_root`); per request, `agreed_samples` takes what the
  distinct registered signers agree on (the node most of them name, the lower median of their latencies), so
  validators holding fewer than half of a request's samples cannot move it.
`window_stats` reduces those observations to `NodeStats`; `ax0n.chain.snapshot` reads the rest.

Score (all governable, integer, basis points):
    latency_bps = BPS · ref / (ref + p95)              (BPS/2 when there are no samples yet)
    quality_bps = (w_stake · BPS + w_uptime · uptime_bps + w_latency · latency_bps) / Σw
    weight      = stake · quality_bps                   (0 when inactive or uptime < min_uptime_bps)
Weight is linear in stake, so splitting stake over many nodes gains nothing (Sybil-neutral).
"""

from __future__ import annotations

import json
import math
import struct
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from hashlib import sha256
from operator import attrgetter

from eth_utils import keccak

from ax0n.spec.params import BPS, MAINNET, Params
from ax0n.v1 import types_pb2

SEED_TAG = b"ax0n/route/v1"


@dataclass(frozen=True, slots=True)
class RoutingWeights:
    """The governable scoring parameters: the `routing_*` entries of the parameter table, as ProtocolParams holds
    them at a snapshot's block."""

    stake: int  # share of the score that stake alone earns
    uptime: int
    latency: int
    latency_ref_ms: int  # p95 at which the latency score is one half
    min_uptime_bps: int  # nodes observed live less often than this are not routed to

    @classmethod
    def of(cls, params: Params) -> RoutingWeights:
        return cls(
            params.routing_weight_stake,
            params.routing_weight_uptime,
            params.routing_weight_latency,
            params.routing_latency_ref_ms,
            params.routing_min_uptime_bps,
        )


DEFAULT_WEIGHTS = RoutingWeights.of(MAINNET)


@dataclass(frozen=True, slots=True)
class NodeStats:
    uptime_bps: int = 0  # share of the window's liveness slots with a valid heartbeat (ax0n.runtime.stats)
    p95_latency_ms: int = 0  # nearest-rank p95 of mesh-observed latencies (0: no samples)
    samples: int = 0  # latency samples behind p95_latency_ms


@dataclass(frozen=True, slots=True)
class Node:
    node_id: bytes  # 32 bytes, the NodeRegistry id
    operator: bytes  # 20-byte operator address
    stake: int  # bonded stake, wei
    cluster: str  # executor cluster: requests go to ax0n:req:{cluster}
    models: tuple[str, ...]  # model ids the node serves
    stats: NodeStats = field(default_factory=NodeStats)
    active: bool = True


_NODE_ID = attrgetter("node_id")
_NODE_TAIL = struct.Struct(">III?")  # uptime_bps, p95_latency_ms, samples (4 bytes each), active (1 byte)


def _str(value: str) -> bytes:
    raw = value.encode()
    return len(raw).to_bytes(2, "big") + raw


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the chain reader fills at block `block`: all a validator needs to recompute routes."""

    block: int
    block_hash: bytes  # 32 bytes; mixed into the seed so routes are unknown before the block exists
    nodes: tuple[Node, ...]
    weights: RoutingWeights = DEFAULT_WEIGHTS

    def canonical_bytes(self) -> bytes:
        return self._canonical(sorted(self.nodes, key=_NODE_ID))

    def _canonical(self, ordered: Sequence[Node]) -> bytes:
        """canonical_bytes() over the nodes already sorted by id (build_index sorts once for both)."""
        w = self.weights
        parts = [
            self.block.to_bytes(8, "big"),
            self.block_hash,
            b"".join(v.to_bytes(4, "big") for v in (w.stake, w.uptime, w.latency, w.latency_ref_ms, w.min_uptime_bps)),
        ]
        clusters: dict[str, bytes] = {}  # few distinct clusters and model sets: each encoded once
        served: dict[tuple[str, ...], bytes] = {}
        pack = _NODE_TAIL.pack
        for n in ordered:
            cluster = clusters.get(n.cluster)
            if cluster is None:
                cluster = clusters[n.cluster] = _str(n.cluster)
            models = served.get(n.models)
            if models is None:
                models = served[n.models] = len(n.models).to_bytes(2, "big") + b"".join(map(_str, sorted(n.models)))
            st = n.stats
            parts += (
                n.node_id,
                n.operator,
                n.stake.to_bytes(32, "big"),
                cluster,
                models,
                pack(st.uptime_bps, st.p95_latency_ms, st.samples, bool(n.active)),
            )
        return b"".join(parts)

    def hash(self) -> bytes:
        """keccak256 of the canonical encoding: fixed-width big-endian integers, nodes sorted by id,
        strings as 2-byte length + UTF-8, each node's models sorted."""
        return keccak(self.canonical_bytes())

    def to_json(self) -> str:
        doc = {
            "block": self.block,
            "block_hash": self.block_hash.hex(),
            "weights": asdict(self.weights),
            "nodes": [
                {
                    "node_id": n.node_id.hex(),
                    "operator": n.operator.hex(),
                    "stake": str(n.stake),
                    "cluster": n.cluster,
                    "models": list(n.models),
                    "stats": asdict(n.stats),
                    "active": n.active,
                }
                for n in self.nodes
            ],
        }
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> Snapshot:
        doc = json.loads(text)
        nodes = tuple(
            Node(
                node_id=bytes.fromhex(n["node_id"]),
                operator=bytes.fromhex(n["operator"]),
                stake=int(n["stake"]),
                cluster=n["cluster"],
                models=tuple(n["models"]),
                stats=NodeStats(**n["stats"]),
                active=bool(n["active"]),
            )
            for n in doc["nodes"]
        )
        return cls(doc["block"], bytes.fromhex(doc["block_hash"]), nodes, RoutingWeights(**doc["weights"]))


# ---- stats over the window ----


@dataclass(frozen=True, slots=True)
class LivenessBeat:
    """A heartbeat that passed its checks (ax0n.runtime.stats): signed by the node's registered key, appended in time."""

    node_id: bytes
    at_ms: int  # milliseconds of its Redis entry id on ax0n:heartbeat


@dataclass(frozen=True, slots=True)
class LatencySample:
    """Mesh-observed latency of one certified receipt: exec-stream append minus request-stream append."""

    node_id: bytes
    at_ms: int  # milliseconds of the sample's Redis entry id on ax0n:latency: decides its window
    latency_ms: int


LATENCY_DOMAIN = b"ax0n/LatencySample/v1"


def latency_signing_root(sample: types_pb2.LatencySample) -> bytes:
    """What an aggregator signs for a latency sample: sha256 over the domain tag, the chain id, the latency and
    every other field but the signer and the signature, each length-prefixed."""

    def part(raw: bytes) -> bytes:
        return len(raw).to_bytes(4, "big") + raw

    return sha256(
        LATENCY_DOMAIN
        + sample.chain_id.to_bytes(8, "big")
        + sample.latency_ms.to_bytes(8, "big")
        + b"".join(
            part(raw)
            for raw in (
                bytes(sample.node_id),
                bytes(sample.request_id),
                sample.cluster_id.encode(),
                sample.request_entry_id.encode(),
                sample.exec_entry_id.encode(),
            )
        )
    ).digest()


@dataclass(frozen=True, slots=True)
class SampleReport:
    """A latency sample whose signature verified, from a registered validator (ax0n.runtime.stats)."""

    request_id: bytes
    signer: bytes  # the validator's BLS public key
    node_id: bytes
    at_ms: int  # milliseconds of its Redis entry id on ax0n:latency
    latency_ms: int


def agreed_samples(reports: Iterable[SampleReport], start_ms: int) -> list[LatencySample]:
    """One sample per request id among `reports` (in stream order): each signer's first report counts once; the
    node is the one most signers name (ties: the earliest named), the latency the lower median of the latencies
    of the signers naming it, the time the request's first report's. Requests first reported at or before
    `start_ms` (the look-back) were counted in an earlier window and are left out."""
    by_request: dict[bytes, list[SampleReport]] = {}
    for r in reports:
        seen = by_request.setdefault(r.request_id, [])
        if all(s.signer != r.signer for s in seen):
            seen.append(r)
    out = []
    for group in by_request.values():
        first_ms = group[0].at_ms
        if first_ms <= start_ms:
            continue
        votes: dict[bytes, list[int]] = {}
        for r in group:
            votes.setdefault(r.node_id, []).append(r.latency_ms)
        node_id = max(votes, key=lambda n: len(votes[n]))  # max keeps the first of equals: the earliest named
        values = sorted(votes[node_id])
        out.append(LatencySample(node_id, first_ms, values[(len(values) - 1) // 2]))
    return out


def p95(values: Sequence[int]) -> int:
    """Nearest-rank 95th percentile (0 for no values)."""
    if not values:
        return 0
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def uptime_bps(beats_ms: Iterable[int], from_ms: int, end_ms: int, slot_ms: int) -> int:
    """Share (bps) of liveness slots with at least one beat, over the slots wholly inside (from_ms, end_ms].

    Slot s is the interval (s·slot_ms, (s+1)·slot_ms] of Unix milliseconds, so every reader cuts the same
    slots. No slot wholly inside the interval (a window shorter than a slot, or a node registered within its
    last slot) gives 0: no evidence of liveness, no uptime.
    """
    first, last = -(-from_ms // slot_ms), end_ms // slot_ms  # counted slots: first <= s < last
    if last <= first:
        return 0
    live = {(t - 1) // slot_ms for t in beats_ms}
    return sum(1 for s in live if first <= s < last) * BPS // (last - first)


def window_stats(
    beats: Iterable[LivenessBeat],
    samples: Iterable[LatencySample],
    registered_ms: Mapping[bytes, int],
    start_ms: int,
    end_ms: int,
    slot_ms: int,
) -> dict[bytes, NodeStats]:
    """NodeStats over the window (start_ms, end_ms] for every node in `registered_ms` (node id -> the time it
    registered, Unix ms); uptime counts slots from max(start_ms, registration). Samples are taken as given
    (de-duplicated by the caller); beats and samples of other nodes or outside the window are ignored."""
    times: dict[bytes, list[int]] = defaultdict(list)
    for b in beats:
        if start_ms < b.at_ms <= end_ms:
            times[b.node_id].append(b.at_ms)
    latencies: dict[bytes, list[int]] = defaultdict(list)
    for s in samples:
        if start_ms < s.at_ms <= end_ms:
            latencies[s.node_id].append(s.latency_ms)
    out = {}
    for node_id, registered in registered_ms.items():
        lat = latencies.get(node_id, [])
        uptime = uptime_bps(times.get(node_id, ()), max(start_ms, registered), end_ms, slot_ms)
        out[node_id] = NodeStats(uptime, p95(lat), len(lat))
    return out


# ---- scoring ----


def latency_bps(stats: NodeStats, w: RoutingWeights) -> int:
    if stats.samples == 0:
        return BPS // 2
    return BPS * w.latency_ref_ms // (w.latency_ref_ms + stats.p95_latency_ms)


def quality_bps(stats: NodeStats, w: RoutingWeights) -> int:
    total = w.stake + w.uptime + w.latency
    return (w.stake * BPS + w.uptime * stats.uptime_bps + w.latency * latency_bps(stats, w)) // total


def selection_weight(node: Node, w: RoutingWeights) -> int:
    """Integer selection weight: stake × quality, 0 for inactive or mostly-offline nodes."""
    if not node.active or node.stake <= 0 or node.stats.uptime_bps < w.min_uptime_bps:
        return 0
    return node.stake * quality_bps(node.stats, w)


# ---- alias tables (Vose), exact in integers ----


@dataclass(frozen=True, slots=True)
class AliasTable:
    """Draw i with probability weights[i] / total: column c = r1 mod n, keep c if r2 mod total < prob[c]."""

    total: int
    prob: tuple[int, ...]
    alias: tuple[int, ...]

    @classmethod
    def build(cls, weights: Sequence[int]) -> AliasTable:
        n, total = len(weights), sum(weights)
        if n == 0 or total <= 0 or min(weights) < 0:
            raise ValueError("alias table needs at least one positive weight and none negative")
        scaled = [w * n for w in weights]
        prob, alias = [total] * n, list(range(n))
        small = [i for i in range(n) if scaled[i] < total]
        large = [i for i in range(n) if scaled[i] >= total]
        pop_small, pop_large = small.pop, large.pop
        while small and large:
            s, g = pop_small(), pop_large()
            rest = scaled[s]
            prob[s], alias[s] = rest, g
            rest = scaled[g] = scaled[g] - (total - rest)
            (small if rest < total else large).append(g)
        return cls(total, tuple(prob), tuple(alias))

    def draw(self, seed: bytes) -> int:
        """The index drawn for a 32-byte seed: column from the seed, coin from sha256(seed)."""
        column = int.from_bytes(seed, "big") % len(self.prob)
        coin = int.from_bytes(sha256(seed).digest(), "big") % self.total
        return column if coin < self.prob[column] else self.alias[column]


# ---- the index ----


@dataclass(frozen=True, slots=True)
class ClusterRoutes:
    cluster: str
    weight: int
    node_ids: tuple[bytes, ...]
    nodes: AliasTable


@dataclass(frozen=True, slots=True)
class ModelRoutes:
    clusters: tuple[ClusterRoutes, ...]  # sorted by cluster name
    table: AliasTable  # over clusters, by summed node weight


@dataclass(frozen=True, slots=True)
class RoutingIndex:
    block: int
    block_hash: bytes
    snapshot_hash: bytes
    models: dict[str, ModelRoutes]


@dataclass(frozen=True, slots=True)
class Route:
    cluster: str
    node_id: bytes
    attempt: int  # 0 first; k: the k-th re-route after clusters 0..k-1 failed


class NoRoute(LookupError):
    """No eligible node serves the model (or every cluster was tried)."""


def build_index(snapshot: Snapshot) -> RoutingIndex:
    """Precompute, per model, an alias table over clusters and one over each cluster's nodes."""
    w = snapshot.weights
    ordered = sorted(snapshot.nodes, key=_NODE_ID)
    grouped: dict[str, dict[str, tuple[list[bytes], list[int]]]] = defaultdict(dict)
    distinct: dict[tuple[str, ...], set[str]] = {}
    for node in ordered:
        weight = selection_weight(node, w)
        if weight:
            served = distinct.get(node.models)
            if served is None:
                served = distinct[node.models] = set(node.models)
            for model in served:
                members = grouped[model].get(node.cluster)
                if members is None:
                    members = grouped[model][node.cluster] = ([], [])
                members[0].append(node.node_id)
                members[1].append(weight)
    models = {}
    for model, clusters in grouped.items():
        routes = tuple(
            ClusterRoutes(name, sum(weights), tuple(ids), AliasTable.build(weights))
            for name, (ids, weights) in sorted(clusters.items())
        )
        models[model] = ModelRoutes(routes, AliasTable.build([c.weight for c in routes]))
    return RoutingIndex(snapshot.block, snapshot.block_hash, keccak(snapshot._canonical(ordered)), models)


def _seed(index: RoutingIndex, request_id: bytes, kind: bytes, counter: int) -> bytes:
    """sha256(tag ‖ kind ‖ block_hash ‖ request_id ‖ counter): cheap here and on-chain (precompile 0x02)."""
    return sha256(SEED_TAG + kind + index.block_hash + request_id + counter.to_bytes(4, "big")).digest()


def cluster_order(index: RoutingIndex, request_id: bytes, model_id: str, attempts: int) -> list[int]:
    """The first `attempts` distinct clusters of the request's weighted draw sequence.

    Draw j uses seed (request_id, j); repeats are skipped. After 64 draws per cluster the rest follow
    in order of descending weight, then name, so the sequence always ends.
    """
    routes = index.models.get(model_id)
    if routes is None:
        raise NoRoute(f"no eligible node serves model {model_id!r} at block {index.block}")
    n = len(routes.clusters)
    if attempts > n:
        raise NoRoute(f"model {model_id!r} has {n} cluster(s); attempt {attempts - 1} has none left")
    order: list[int] = []
    seen: set[int] = set()
    draw = 0
    while len(order) < attempts and draw < 64 * n:
        c = routes.table.draw(_seed(index, request_id, b"c", draw))
        draw += 1
        if c not in seen:
            seen.add(c)
            order.append(c)
    if len(order) < attempts:
        rest = sorted((i for i in range(n) if i not in seen), key=lambda i: (-routes.clusters[i].weight, i))
        order += rest[: attempts - len(order)]
    return order


def route(index: RoutingIndex, request_id: bytes, model_id: str, attempt: int = 0) -> Route:
    """Where request `request_id` for `model_id` must go on attempt `attempt` (0 unless re-routed)."""
    order = cluster_order(index, request_id, model_id, attempt + 1)
    cluster = index.models[model_id].clusters[order[attempt]]
    node = cluster.node_ids[cluster.nodes.draw(_seed(index, request_id, b"n", attempt))]
    return Route(cluster.cluster, node, attempt)
