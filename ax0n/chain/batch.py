"""A settlement batch as Settlement.submitBatch takes it: credit lists, their digest, the proof's public inputs.

The batch proof's public inputs are `[batchId, root, count, creditsDigest]`, where `creditsDigest` is
sha256 over the ABI-packed credit arrays (`abi.encodePacked(clients, debits, operators, operatorCredits,
validators, validatorCredits)`, each element one 32-byte word) reduced modulo the BN254 scalar field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import groth16py

from ax0n.params import BPS, MAINNET, Params

SNARK_SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617


def _word(value: int | str) -> bytes:
    if isinstance(value, str):
        return bytes(12) + bytes.fromhex(value.removeprefix("0x"))
    return value.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Batch:
    """One settlement batch: the receipt root and count plus the per-account debits and credits it settles."""

    batch_id: int
    root: int
    count: int
    clients: tuple[str, ...]
    debits: tuple[int, ...]
    operators: tuple[str, ...]
    operator_credits: tuple[int, ...]
    validators: tuple[str, ...]
    validator_credits: tuple[int, ...]

    @property
    def total_fee(self) -> int:
        return sum(self.debits)

    def credits_digest(self) -> int:
        """sha256 of the packed credit arrays, mod the BN254 scalar field (Settlement.creditsDigest)."""
        words = [
            *self.clients,
            *self.debits,
            *self.operators,
            *self.operator_credits,
            *self.validators,
            *self.validator_credits,
        ]
        digest = hashlib.sha256(b"".join(_word(w) for w in words)).digest()
        return int.from_bytes(digest, "big") % SNARK_SCALAR_FIELD

    def public_inputs(self) -> list[int]:
        return [self.batch_id, self.root, self.count, self.credits_digest()]


def split_totals(total_fee: int, params: Params = MAINNET) -> tuple[int, int, int]:
    """Batch-level split Settlement enforces: (operators, validators, treasury); rounding dust to the treasury."""
    operators = total_fee * params.operator_fee_share_bps // BPS
    validators = total_fee * params.validator_fee_share_bps // BPS
    return operators, validators, total_fee - operators - validators


def proof_args(proof: bytes) -> tuple[list[int], list[list[int]], list[int]]:
    """The 256-byte ABI proof as the verifier's (a, b, c) arguments."""
    w = [int.from_bytes(proof[i : i + 32], "big") for i in range(0, 256, 32)]
    return [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]]


class SampleBatchProver:
    """Proves batches under the SAMPLE circuit (contracts/circuits/sample_batch.circom).

    The sample circuit proves knowledge of `witness` with witness² = root + count; it stands in for
    ProofCore's batch circuit and proves nothing about receipts. Roots are therefore derived from a
    chosen witness (`root_for`).
    """

    def __init__(self, proving_key: groth16py.ProvingKey) -> None:
        self.pk = proving_key

    @classmethod
    def load(cls, path: str) -> SampleBatchProver:
        return cls(groth16py.ProvingKey.load(path))

    @staticmethod
    def root_for(count: int, witness: int) -> int:
        return (witness * witness - count) % SNARK_SCALAR_FIELD

    def prove(self, public_inputs: Sequence[int], witness: int) -> bytes:
        batch_id, root, count, digest = public_inputs
        inputs = {"batchId": batch_id, "root": root, "count": count, "creditsDigest": digest, "witness": witness}
        return groth16py.prove(self.pk, inputs)

    def prove_batch(self, batch: Batch, witness: int) -> bytes:
        """Prove `batch`, whose root must be `root_for(batch.count, witness)`."""
        if batch.root != self.root_for(batch.count, witness):
            raise ValueError("the sample circuit needs root == witness**2 - count")
        return self.prove(batch.public_inputs(), witness)


def certificate_args(members: Sequence[str], signer_seats: Sequence[int], signature: bytes) -> tuple:
    """Settlement.Certificate for a batch committee: seats re-ordered by ascending address (as the contract
    requires), the signer bitmap rebuilt for that order, the 96-byte aggregate signature in EIP-2537 encoding."""
    from ax0n.chain.bls_points import g2_uncompressed

    signed = {members[s].lower() for s in signer_seats}
    ordered = sorted(members, key=lambda a: int(a, 16))
    bitmap = bytearray((len(ordered) + 7) // 8)
    for i, member in enumerate(ordered):
        if member.lower() in signed:
            bitmap[i // 8] |= 1 << (i % 8)
    return (ordered, bytes(bitmap), g2_uncompressed(signature))
