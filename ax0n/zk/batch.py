"""The batch circuit's witness input (ax0n/zk/circuits/batch.circom): the settlement statement of ax0n.spec.settlement."""

from __future__ import annotations

from collections.abc import Sequence

from ax0n.spec.settlement import BatchPlan, BatchStatement, Leaf
from ax0n.zk import artifacts


def circuit_inputs(leaves: Sequence[Leaf], size: int, stmt: BatchStatement) -> dict[str, object]:
    """Full witness input for `BatchSettlement(log2 size, size)`."""
    cols = [leaf.fields() for leaf in leaves] + [[0] * 8] * (size - len(leaves))
    names = ["requestHi", "requestLo", "receiptHi", "receiptLo", "operator", "client", "fee", "feeCap"]
    inputs: dict[str, object] = {
        "batchId": stmt.batch_id,
        "root": stmt.root,
        "count": stmt.count,
        "operatorBps": stmt.operator_bps,
        "validatorBps": stmt.validator_bps,
        "feeTotal": stmt.fee_total,
        "validatorTotal": stmt.validator_total,
        "treasuryTotal": stmt.treasury_total,
        "operators": list(stmt.operators),
        "operatorAmounts": list(stmt.operator_amounts),
        "clients": list(stmt.clients),
        "clientAmounts": list(stmt.client_amounts),
    }
    for k, name in enumerate(names):
        inputs[name] = [row[k] for row in cols]
    return inputs


class CircuitBatchProver:
    """The batch prover: ProofCore's batch-settlement circuit over `size` leaves, proved in-process with this
    machine's cached setup (`make artifacts`)."""

    def __init__(self, size: int, *, build: bool = True) -> None:
        self.artifacts = artifacts.load(artifacts.batch_spec(size), build=build)
        self.circuit_id = self.artifacts.spec.name

    def prove(self, plan: BatchPlan) -> bytes:
        """The 288-byte envelope (256-byte ABI proof + public-input digest); ProofError when the leaves break the
        circuit."""
        return self.artifacts.prove(circuit_inputs(plan.leaves, plan.size, plan.statement))
