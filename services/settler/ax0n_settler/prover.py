"""Batch provers: what turns a batch plan into the Groth16 proof submitBatch carries."""

from __future__ import annotations

from typing import Protocol

from ax0n.zk import artifacts
from ax0n.zk.batch import circuit_inputs
from ax0n_settler.plan import BatchPlan


class BatchProver(Protocol):
    circuit_id: str

    def prove(self, plan: BatchPlan) -> bytes:
        """The 288-byte envelope (256-byte ABI proof + public-input digest) for `plan`."""


class CircuitBatchProver:
    """ProofCore's batch-settlement circuit (circuits/batch.circom) over `plan.size` leaves, proved in-process."""

    def __init__(self, size: int, *, build: bool = True) -> None:
        self.artifacts = artifacts.load(artifacts.batch_spec(size), build=build)
        self.circuit_id = self.artifacts.spec.name

    def prove(self, plan: BatchPlan) -> bytes:
        return self.artifacts.prove(circuit_inputs(plan.leaves, plan.size, plan.statement()))
