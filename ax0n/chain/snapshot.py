"""The registry state at one block, read from the chain: what routing snapshots and validator sets are built from.

    state = read_state(w3, manifest, block)
    snapshot = routing_snapshot(state, stats)   # ax0n.spec.routing.Snapshot at `block`

`read_state` pins every call to `block` (NodeRegistry's operator and validator lists, each node record, each
validator key, the ModelRegistry records of the models the nodes serve), so the result is a pure function of the
chain at that block: any validator reading the same block gets the same state. Calls go out as JSON-RPC batches
(`_BATCH` calls each): six round trips up to `_BATCH` nodes, O(nodes + validators + models) calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from ax0n.chain.bls_points import g1_compressed
from ax0n.chain.deploy import Manifest, model_key, param_name
from ax0n.spec.answers import RegisteredModel
from ax0n.spec.committee import Validator
from ax0n.spec.routing import Node, NodeStats, RoutingWeights, Snapshot
from ax0n.v1 import types_pb2

log = logging.getLogger(__name__)
_BATCH = 256  # calls per JSON-RPC batch (public endpoints cap batch sizes)
# ProtocolParams names of RoutingWeights' fields, in field order
WEIGHT_PARAMS = (
    "routing_weight_stake",
    "routing_weight_uptime",
    "routing_weight_latency",
    "routing_latency_ref_ms",
    "routing_min_uptime_bps",
)


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One registered operator's NodeRegistry record."""

    operator: bytes  # 20-byte operator address
    node_id: bytes  # keccak256(operator): the routing node id
    stake: int  # bonded stake, wei (unbonding stake excluded)
    active: bool  # NodeRegistry.isActive: registered with at least min_node_stake bonded
    cluster: str  # executor cluster: its requests go to ax0n:req:{cluster}
    models: tuple[str, ...]  # served model ids, registration order, duplicates and undecodable keys dropped
    signing_key: bytes  # 20-byte address that signs the node's receipts
    endpoint: str
    registered_at: int  # block of registration


@dataclass(frozen=True, slots=True)
class ValidatorRecord:
    """One registered validator key; validators are registered nodes, and their stake is their node's bond."""

    address: bytes  # 20 bytes
    pubkey: bytes  # 48-byte compressed BLS12-381 G1 key (its proof of possession was checked at registration)
    stake: int  # the address's bonded node stake, wei


@dataclass(frozen=True, slots=True)
class ChainState:
    block: int
    block_hash: bytes  # 32 bytes
    timestamp: int
    nodes: tuple[NodeRecord, ...]  # every operator ever registered, registration order
    validators: tuple[ValidatorRecord, ...]  # every validator key, registration order
    models: dict[str, RegisteredModel]  # model id -> its ModelRegistry record, for the served models registered
    weights: RoutingWeights  # ProtocolParams' routing weights at the block


PROTO_TIER = {0: types_pb2.TIER_ZK, 1: types_pb2.TIER_LLM}  # ModelRegistry.Tier -> the protobuf Tier


def registered(record: Sequence[Any]) -> RegisteredModel:
    """ModelRegistry.model's (commitment, tier, paramCount, vkHash, pricePer1k, exists, zkMode) as a
    RegisteredModel (the zk mode and verifying-key hash for the zk tier only)."""
    commitment, tier, _params, vk, price = record[:5]
    if PROTO_TIER[tier] != types_pb2.TIER_ZK:
        return RegisteredModel(bytes(commitment), PROTO_TIER[tier], int(price))
    return RegisteredModel(bytes(commitment), PROTO_TIER[tier], int(price), zk_mode=int(record[6]), vk_hash=bytes(vk))


def model_id(key: bytes) -> str | None:
    """A ModelRegistry key (UTF-8, right-padded with zeros; `deploy.model_key`) as its model id, None when the key
    is all zeros or not UTF-8."""
    try:
        text = key.rstrip(b"\0").decode()
    except UnicodeDecodeError:
        return None
    return text or None


def _calls(w3: Web3, fns: Sequence[ContractFunction], block: int) -> list[Any]:
    """The results of `fns` at `block`, in order, `_BATCH` calls per JSON-RPC batch."""
    out: list[Any] = []
    for start in range(0, len(fns), _BATCH):
        with w3.batch_requests() as batch:
            for fn in fns[start : start + _BATCH]:
                batch.add(fn.call(block_identifier=block))
            out += batch.execute()
    return out


def read_state(w3: Web3, manifest: Manifest, block: int) -> ChainState:
    """NodeRegistry's operators and validators and the served models' commitments, as of block `block`."""
    header = w3.eth.get_block(block)
    number = int(header["number"])
    nodes = manifest.contract(w3, "NodeRegistry")
    registry = manifest.contract(w3, "ModelRegistry")
    f = nodes.functions
    params = manifest.contract(w3, "ProtocolParams").functions
    n_ops, n_vals, *weights = _calls(
        w3, [f.operatorCount(), f.validatorCount(), *(params.get(param_name(n)) for n in WEIGHT_PARAMS)], number
    )
    addresses = _calls(w3, [*map(f.operatorAt, range(n_ops)), *map(f.validatorAt, range(n_vals))], number)
    operators, validators = addresses[:n_ops], addresses[n_ops:]
    per_op = [fn(op) for op in operators for fn in (f.node, f.isActive)]
    answers = _calls(w3, [*per_op, *map(f.blsKey, validators)], number)
    records: dict[str, NodeRecord] = {}
    for op, record, active in zip(operators, answers[0 : 2 * n_ops : 2], answers[1 : 2 * n_ops : 2], strict=True):
        stake, _, _, signing_key, endpoint, model_keys, _, registered_at, cluster = record
        operator = bytes.fromhex(op[2:])
        served = (model_id(bytes(k)) for k in model_keys)
        records[op] = NodeRecord(
            operator=operator,
            node_id=keccak(operator),
            stake=stake,
            active=active,
            cluster=cluster,
            models=tuple(dict.fromkeys(m for m in served if m is not None)),
            signing_key=bytes.fromhex(signing_key[2:]),
            endpoint=endpoint,
            registered_at=registered_at,
        )
    vals = tuple(
        ValidatorRecord(bytes.fromhex(v[2:]), g1_compressed(bytes(key)), records[v].stake)
        for v, key in zip(validators, answers[2 * n_ops :], strict=True)
    )
    served_ids = sorted({m for r in records.values() for m in r.models})
    exists = _calls(w3, [registry.functions.exists(model_key(m)) for m in served_ids], number)
    known = [m for m, ok in zip(served_ids, exists, strict=True) if ok]
    registrations = _calls(w3, [registry.functions.model(model_key(m)) for m in known], number)
    return ChainState(
        block=number,
        block_hash=bytes(header["hash"]),
        timestamp=int(header["timestamp"]),
        nodes=tuple(records.values()),
        validators=vals,
        models={m: registered(record) for m, record in zip(known, registrations, strict=True)},
        weights=RoutingWeights(*weights),
    )


def routing_snapshot(state: ChainState, stats: Mapping[bytes, NodeStats]) -> Snapshot:
    """The routing snapshot at `state.block`: every node with its stats by node id (NodeStats() when absent),
    scored with the routing weights ProtocolParams held at that block."""
    nodes = tuple(
        Node(r.node_id, r.operator, r.stake, r.cluster, r.models, stats.get(r.node_id, NodeStats()), r.active)
        for r in state.nodes
    )
    return Snapshot(state.block, state.block_hash, nodes, state.weights)


def read_validators(w3: Web3, nodes: Contract, block: int) -> tuple[bytes, tuple[Validator, ...]]:
    """(block hash, validator set) as NodeRegistry `nodes` held them at `block`: each key with its node's bonded
    stake, in registration order (what read_state's validators give, without the rest of the registry)."""
    header = w3.eth.get_block(block)
    number, f = int(header["number"]), nodes.functions
    (count,) = _calls(w3, [f.validatorCount()], number)
    addresses = _calls(w3, [f.validatorAt(i) for i in range(count)], number)
    answers = _calls(w3, [fn(v) for v in addresses for fn in (f.blsKey, f.node)], number)
    keys, records = answers[0::2], answers[1::2]
    return bytes(header["hash"]), tuple(
        Validator(g1_compressed(bytes(key)), record[0]) for key, record in zip(keys, records, strict=True)
    )


class ValidatorSetReader:
    """Validator sets by block, as NodeRegistry held them at that block (`read_validators`); the last `keep` kept.

    A ValidatorSets source (ax0n.spec.finality) for parties that check certificates without building routing
    snapshots themselves (routers delivering results, the settler batching them). Blocking: call it off the loop.
    """

    def __init__(self, w3: Web3, nodes: Contract, keep: int = 64) -> None:
        self.w3, self.nodes, self.keep = w3, nodes, keep
        self._sets: dict[int, tuple[bytes, tuple[Validator, ...]]] = {}
        self._lock = threading.Lock()

    def __call__(self, block: int) -> tuple[bytes, tuple[Validator, ...]] | None:
        with self._lock:
            if block in self._sets:
                return self._sets[block]
        try:
            found = read_validators(self.w3, self.nodes, block)
        except Exception as exc:  # no such block yet, or the endpoint failed: unknown here, not invalid
            log.warning("validator set at block %d: %s", block, exc)
            return None
        with self._lock:
            self._sets[block] = found
            while len(self._sets) > self.keep:
                del self._sets[min(self._sets)]
        return found
