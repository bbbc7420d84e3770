"""Public registry data a validator needs: from snapshot files (`parse`) or from the chain (`from_chain`).

One JSON file per snapshot block (`<dir>/<block>.json`):

    {"block": 4096, "block_hash": "<32 bytes hex>",
     "validators": [{"pubkey": "<48 bytes hex>", "stake": "<wei>", "pop": "<96 bytes hex>",
                     "address": "<0x registered address, needed to sign batches>"}, ...],
     "node_signers": {"<routing node id hex>": "<20-byte signing address hex>"},
     "models": {"<model id>": {"commitment": "<32 bytes hex>", "tier": <1 zk, 2 llm>, "price": "<wei per 1k>"}},
     "routing": <ax0n.spec.routing.Snapshot JSON>}

Validators whose proof of possession does not verify are left out (the registry contract rejects them too).
"""

from __future__ import annotations

import functools
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from ax0n.chain.snapshot import ChainState
from ax0n.spec import bls, routing
from ax0n.spec.answers import RegisteredModel
from ax0n.spec.committee import Validator

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RegistrySnapshot:
    block: int
    block_hash: bytes
    validators: tuple[Validator, ...]
    node_signers: dict[bytes, bytes]
    models: dict[str, RegisteredModel]
    routing: routing.RoutingIndex
    addresses: tuple[str, ...]  # each validator's registered address ("" when the snapshot does not say)
    operators: dict[bytes, bytes]  # routing node id -> its registered operator

    def operator_of(self, node_id: bytes) -> bytes | None:
        return self.operators.get(node_id)


def parse(text: str) -> RegistrySnapshot:
    doc = json.loads(text)
    validators, addresses = [], []
    for i, v in enumerate(doc["validators"]):
        pubkey = bytes.fromhex(v["pubkey"])
        if not bls.verify_possession(pubkey, bytes.fromhex(v["pop"])):
            log.warning("snapshot %s: validator %d has no valid proof of possession; left out", doc["block"], i)
            continue
        validators.append(Validator(pubkey, int(v["stake"])))
        addresses.append(v.get("address", ""))
    return _assemble(
        int(doc["block"]),
        bytes.fromhex(doc["block_hash"]),
        validators,
        addresses,
        {bytes.fromhex(k): bytes.fromhex(a) for k, a in doc["node_signers"].items()},
        {
            m: RegisteredModel(bytes.fromhex(r["commitment"]), int(r["tier"]), int(r["price"]))
            for m, r in doc.get("models", {}).items()
        },
        routing.Snapshot.from_json(json.dumps(doc["routing"])),
    )


def from_chain(state: ChainState, snapshot: routing.Snapshot) -> RegistrySnapshot:
    """The registry snapshot of `state` (read from the chain by `ax0n.chain.snapshot.read_state`) and the routing
    snapshot built from it at the same block. Every validator key is taken as is, without a proof-of-possession
    check: NodeRegistry.registerValidatorKey verified each key's proof of possession on-chain before storing it."""
    if (snapshot.block, snapshot.block_hash) != (state.block, state.block_hash):
        raise ValueError(f"routing snapshot is of block {snapshot.block}, the chain state of block {state.block}")
    return _assemble(
        state.block,
        state.block_hash,
        [Validator(v.pubkey, v.stake) for v in state.validators],
        [Web3.to_checksum_address(v.address) for v in state.validators],
        {n.node_id: n.signing_key for n in state.nodes},
        dict(state.models),
        snapshot,
    )


def _assemble(
    block: int,
    block_hash: bytes,
    validators: Sequence[Validator],
    addresses: Sequence[str],
    node_signers: dict[bytes, bytes],
    models: dict[str, RegisteredModel],
    snapshot: routing.Snapshot,
) -> RegistrySnapshot:
    return RegistrySnapshot(
        block=block,
        block_hash=block_hash,
        validators=tuple(validators),
        node_signers=node_signers,
        models=models,
        routing=routing.build_index(snapshot),
        addresses=tuple(addresses),
        operators={node.node_id: node.operator for node in snapshot.nodes},
    )


class SnapshotSource(ABC):
    """Registry snapshots by block (`get`), and the lookups the checks make on them."""

    @abstractmethod
    def get(self, block: int) -> RegistrySnapshot | None:
        """The snapshot of rebuild block `block`, or None when there is none."""

    def validator_set(self, block: int) -> tuple[bytes, Sequence[Validator]] | None:
        snap = self.get(block)
        return None if snap is None else (snap.block_hash, snap.validators)

    def routing_index(self, block: int) -> routing.RoutingIndex | None:
        snap = self.get(block)
        return None if snap is None else snap.routing

    def node_signer(self, block: int, node_id: bytes) -> bytes | None:
        snap = self.get(block)
        return None if snap is None else snap.node_signers.get(node_id)

    def model(self, block: int, model_id: str) -> RegisteredModel | None:
        """Model `model_id`'s registration at snapshot `block` (None when unknown)."""
        snap = self.get(block)
        return None if snap is None else snap.models.get(model_id)


class SnapshotDir(SnapshotSource):
    """Snapshots by block from a directory, parsed on first use and kept."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one long-lived instance per process
    def get(self, block: int) -> RegistrySnapshot | None:
        file = self.path / f"{block}.json"
        return parse(file.read_text()) if file.exists() else None
