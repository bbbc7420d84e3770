"""Registry snapshots for the devnet's router and validators, re-read from the chain every 16 blocks.

A snapshot (`snapshots/<block>.json`, format in `ax0n_validator.registry`) pins the nodes and validators at one
block: stakes, active flags and receipt signing keys are read from NodeRegistry at that block; the nodes'
clusters and the validators' BLS proofs of possession come from provisioning (NodeRegistry stores neither a
cluster nor the proof). `registry.json` (the router's `--registry-file`) is replaced last, so a route never names
a snapshot the validators cannot read.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

from web3 import Web3

from ax0n.chain.deploy import Manifest
from ax0n.params import DEVNET
from ax0n.routing import Snapshot


def _write(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2))
    tmp.replace(path)


def export(w3: Web3, manifest: Manifest, state_dir: Path, template: dict, block: int | None = None) -> int:
    """Write the snapshot of `template`'s nodes and validators at `block` (default: latest); returns the block."""
    header = w3.eth.get_block("latest" if block is None else block)
    number = int(header["number"])
    nodes = manifest.contract(w3, "NodeRegistry")

    def record(address: str) -> tuple:
        return nodes.functions.node(Web3.to_checksum_address(address)).call(block_identifier=number)

    def active(address: str) -> bool:
        return nodes.functions.isActive(Web3.to_checksum_address(address)).call(block_identifier=number)

    routing = Snapshot.from_json(json.dumps(template["routing"]))
    fresh_nodes, signers = [], {}
    for node in routing.nodes:
        operator = "0x" + node.operator.hex()
        stake, _unbonding, _at, signing_key, *_ = record(operator)
        fresh_nodes.append(dataclasses.replace(node, stake=int(stake), active=active(operator)))
        signers[node.node_id.hex()] = str(signing_key)[2:].lower()
    snapshot = Snapshot(number, bytes(header["hash"]), tuple(fresh_nodes), routing.weights)
    validators = [{**v, "stake": str(record(v["address"])[0])} for v in template["validators"]]
    routing_doc = json.loads(snapshot.to_json())
    doc = {**template, "block": number, "block_hash": snapshot.block_hash.hex(), "validators": validators}
    doc.update(node_signers=signers, routing=routing_doc)
    (state_dir / "snapshots").mkdir(parents=True, exist_ok=True)
    _write(state_dir / "snapshots" / f"{number}.json", doc)
    _write(state_dir / "registry.json", {"models": [], "escrow": {}, "snapshot": routing_doc})
    return number


class Refresher:
    """Exports a fresh snapshot every `routing_rebuild_interval` blocks on a daemon thread, until stopped."""

    def __init__(self, w3: Web3, manifest: Manifest, state_dir: Path, template: dict, last_block: int) -> None:
        self.args = (w3, manifest, state_dir, template)
        self.last = last_block
        self.interval = DEVNET.routing_rebuild_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ax0n-devnet-snapshots", daemon=True)

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def _run(self) -> None:
        w3 = self.args[0]
        while not self._stop.wait(1.0):
            try:
                head = w3.eth.block_number
                if head >= self.last + self.interval:
                    self.last = export(*self.args, block=head - head % self.interval)
            except Exception as exc:  # anvil stopping under us at shutdown; the next tick tries again
                if not self._stop.is_set():
                    print(f"devnet: snapshot refresh failed: {exc}", flush=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
