"""What turns a batch plan into the Groth16 proof submitBatch carries: ax0n.zk.batch.CircuitBatchProver, or a
test's stand-in with the same shape."""

from __future__ import annotations

from typing import Protocol

from ax0n.spec.settlement import BatchPlan


class BatchProver(Protocol):
    circuit_id: str

    def prove(self, plan: BatchPlan) -> bytes:
        """The 288-byte envelope (256-byte ABI proof + public-input digest) for `plan`."""
