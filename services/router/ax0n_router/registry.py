"""Registry lookups the router needs (models, escrow, routing snapshots), behind one typed interface.

- `FileRegistry` reads registry state exported to a JSON file (re-read when the file changes);
- `ChainRegistry` reads models from ModelRegistry and escrow balances from Settlement on a deployment
  (`ax0n.chain`), and takes routing snapshots from another source: the `SnapshotRefresher`
  (ax0n_router.snapshots: NodeRegistry plus node stats, rebuilt every routing_rebuild_interval blocks), or a file.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ax0n.chain.deploy import Manifest, model_key
from ax0n.chain.snapshot import PROTO_TIER, ValidatorSetReader
from ax0n.spec.committee import Validator
from ax0n.spec.routing import Snapshot
from ax0n.v1 import types_pb2
from ax0n_router import errors


class Registry(Protocol):
    def model(self, model_id: str) -> types_pb2.ModelInfo | None: ...

    def models(self) -> list[types_pb2.ModelInfo]: ...

    async def escrow_balance(self, client: bytes) -> int:
        """The client's escrowed balance in wei."""

    def snapshot(self) -> Snapshot:
        """The latest routing snapshot."""

    def validator_set(self, block: int) -> tuple[bytes, Sequence[Validator]] | None:
        """(block hash, validator set) at snapshot block `block`, to check certificates; None when unknown.
        Blocking: called off the event loop."""


@dataclass
class _State:
    mtime_ns: int
    models: dict[str, types_pb2.ModelInfo]
    escrow: dict[bytes, int]
    snapshot: Snapshot
    validators: tuple[Validator, ...]


def _load(path: Path) -> _State:
    doc = json.loads(path.read_text())
    models = {}
    for m in doc["models"]:
        info = types_pb2.ModelInfo(
            model_id=m["model_id"],
            tier=types_pb2.Tier.Value(m.get("tier", "TIER_LLM")),
            commitment=bytes.fromhex(m.get("commitment", "")),
            parameters=int(m.get("parameters", 0)),
            price_per_1k_tokens=str(m["price_per_1k_tokens"]),
            active=bool(m.get("active", True)),
        )
        models[info.model_id] = info
    escrow = {bytes.fromhex(k.removeprefix("0x")): int(v) for k, v in doc.get("escrow", {}).items()}
    snapshot = Snapshot.from_json(json.dumps(doc["snapshot"]))
    validators = tuple(Validator(bytes.fromhex(v["pubkey"]), int(v["stake"])) for v in doc.get("validators", []))
    return _State(os.stat(path).st_mtime_ns, models, escrow, snapshot, validators)


class FileRegistry:
    """Registry state from a JSON file: {"models": [...], "escrow": {"0xaddr": "wei"}, "snapshot": {...},
    "validators": [{"pubkey": hex, "stake": "wei"}, ...]} (the validator set at the snapshot's block).

    Re-read when the file's mtime changes (checked at most every `recheck_s`).
    """

    def __init__(self, path: str | Path, *, recheck_s: float = 1.0) -> None:
        self.path = Path(path)
        self.recheck_s = recheck_s
        self._state = _load(self.path)
        self._checked = time.monotonic()

    def _fresh(self) -> _State:
        now = time.monotonic()
        if now - self._checked >= self.recheck_s:  # stat the file at most once per recheck_s
            self._checked = now
            if os.stat(self.path).st_mtime_ns != self._state.mtime_ns:
                self._state = _load(self.path)
        return self._state

    def model(self, model_id: str) -> types_pb2.ModelInfo | None:
        return self._fresh().models.get(model_id)

    def models(self) -> list[types_pb2.ModelInfo]:
        return list(self._fresh().models.values())

    async def escrow_balance(self, client: bytes) -> int:
        return self._fresh().escrow.get(client, 0)

    def snapshot(self) -> Snapshot:
        return self._fresh().snapshot

    def validator_set(self, block: int) -> tuple[bytes, Sequence[Validator]] | None:
        state = self._fresh()
        return (state.snapshot.block_hash, state.validators) if block == state.snapshot.block else None


class Unconfigured:
    """No registry source given: the router runs (health, status) but refuses every request with UNAVAILABLE."""

    REASON = "no registry source configured (--rpc-url with --deployment, or --registry-file); no request is admitted"

    def model(self, model_id: str) -> types_pb2.ModelInfo | None:
        raise errors.unavailable(self.REASON)

    def models(self) -> list[types_pb2.ModelInfo]:
        return []

    async def escrow_balance(self, client: bytes) -> int:
        raise errors.unavailable(self.REASON)

    def snapshot(self) -> Snapshot:
        raise errors.unavailable(self.REASON)

    def validator_set(self, block: int) -> tuple[bytes, Sequence[Validator]] | None:
        return None


class ChainRegistry:
    """Models from ModelRegistry and escrow from Settlement (read on the chain); snapshots from `snapshots`.

    Model records change only through the governor's timelock, so they are cached for `model_ttl_s`;
    escrow balances are read per request.
    """

    def __init__(self, w3, manifest: Manifest, snapshots: Callable[[], Snapshot], *, model_ttl_s: float = 30.0) -> None:
        self.models_contract = manifest.contract(w3, "ModelRegistry")
        self.settlement = manifest.contract(w3, "Settlement")
        self.snapshots, self.model_ttl_s = snapshots, model_ttl_s
        self.validator_set = ValidatorSetReader(w3, manifest.contract(w3, "NodeRegistry"))
        self._models: dict[str, tuple[float, types_pb2.ModelInfo | None]] = {}

    def model(self, model_id: str) -> types_pb2.ModelInfo | None:
        cached = self._models.get(model_id)
        if cached is not None and time.monotonic() - cached[0] < self.model_ttl_s:
            return cached[1]
        try:
            key = model_key(model_id)
        except ValueError:
            return None
        info = None
        if self.models_contract.functions.exists(key).call():  # model() reverts for unknown ids
            commitment, tier, params, _vk, price, *_ = self.models_contract.functions.model(key).call()
            info = types_pb2.ModelInfo(
                model_id=model_id,
                tier=PROTO_TIER.get(tier, types_pb2.TIER_UNSPECIFIED),
                commitment=bytes(commitment),
                parameters=params,
                price_per_1k_tokens=str(price),
                active=True,  # ModelRegistry has no deactivation yet: a registered model is active
            )
        self._models[model_id] = (time.monotonic(), info)
        return info

    def models(self) -> list[types_pb2.ModelInfo]:
        """Every model registered so far (from ModelRegistered events)."""
        logs = self.models_contract.events.ModelRegistered.get_logs(from_block=0)
        ids = [bytes(log["args"]["modelId"]).rstrip(b"\0").decode("utf-8", "replace") for log in logs]
        return [m for m in (self.model(i) for i in ids) if m is not None]

    async def escrow_balance(self, client: bytes) -> int:
        """The escrow a new request may reserve against: Settlement's escrow less a pending withdrawal request
        (it can complete before a request admitted now settles, so it is not counted)."""
        address = self.settlement.w3.to_checksum_address(client)

        def read() -> int:
            escrow = self.settlement.functions.escrow(address).call()
            pending, _ = self.settlement.functions.escrowWithdrawals(address).call()
            return max(escrow - pending, 0)

        return await asyncio.to_thread(read)

    def snapshot(self) -> Snapshot:
        return self.snapshots()
