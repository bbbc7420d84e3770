"""A settlement batch as Settlement.submitBatch takes it: ProofCore's batch statement without the basis points.

Settlement builds the batch circuit's public inputs (docs/proofs.md) from this struct plus its own
ProtocolParams fee shares, so `Batch` carries everything of `ax0n.spec.settlement.BatchStatement` except
`operator_bps`/`validator_bps`. Proofs come from `ax0n.zk.batch.CircuitBatchProver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ax0n.spec.params import MAINNET, Params
from ax0n.spec.settlement import BatchPlan, BatchStatement

SIZE = 16  # the deployed Settlement's N (Settlement.N): receipts, operator slots and client slots per batch


@dataclass(frozen=True, slots=True)
class Batch:
    """Settlement.Batch: root, count, totals and the N operator/client slots (addresses as integers, 0 = unused)."""

    batch_id: int
    root: int
    count: int
    fee_total: int
    validator_total: int
    treasury_total: int
    operators: tuple[int, ...]
    operator_amounts: tuple[int, ...]
    clients: tuple[int, ...]
    client_amounts: tuple[int, ...]

    @classmethod
    def from_statement(cls, stmt: BatchStatement) -> Batch:
        return cls(
            batch_id=stmt.batch_id,
            root=stmt.root,
            count=stmt.count,
            fee_total=stmt.fee_total,
            validator_total=stmt.validator_total,
            treasury_total=stmt.treasury_total,
            operators=stmt.operators,
            operator_amounts=stmt.operator_amounts,
            clients=stmt.clients,
            client_amounts=stmt.client_amounts,
        )

    def args(self) -> tuple[object, ...]:
        """The struct as web3 encodes it."""
        return (
            self.batch_id,
            self.root.to_bytes(32, "big"),
            self.count,
            self.fee_total,
            self.validator_total,
            self.treasury_total,
            list(self.operators),
            list(self.operator_amounts),
            list(self.clients),
            list(self.client_amounts),
        )

    def public_inputs(self, params: Params = MAINNET) -> list[int]:
        """What Settlement.publicInputs(b) returns under `params`' fee shares."""
        return [
            self.batch_id,
            self.root,
            self.count,
            params.operator_fee_share_bps,
            params.validator_fee_share_bps,
            self.fee_total,
            self.validator_total,
            self.treasury_total,
            *self.operators,
            *self.operator_amounts,
            *self.clients,
            *self.client_amounts,
        ]


def submission(plan: BatchPlan, envelope: bytes) -> tuple[Batch, bytes]:
    """Settlement.submitBatch's batch struct and 256-byte proof for `plan` and its proof envelope."""
    return Batch.from_statement(plan.statement), envelope[:256]


def proof_args(proof: bytes) -> tuple[list[int], list[list[int]], list[int]]:
    """The 256-byte ABI proof (or a 288-byte envelope) as the verifier's (a, b, c) arguments."""
    w = [int.from_bytes(proof[i : i + 32], "big") for i in range(0, 256, 32)]
    return [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]]


def certificate_args(reference_block: int, nonsigners: Sequence[str], signature: bytes) -> tuple:
    """Settlement.Certificate (a stake certificate): the reference block, the non-signers' addresses in ascending
    order (checksummed, as the contract requires them strictly ascending) and the 96-byte aggregate signature
    of everyone else in EIP-2537 encoding."""
    from eth_utils import to_checksum_address

    from ax0n.chain.bls_points import g2_uncompressed

    ordered = sorted({a.lower() for a in nonsigners}, key=lambda a: int(a, 16))
    return (reference_block, [to_checksum_address(a) for a in ordered], g2_uncompressed(signature))
