"""Batch committees: check every receipt's quorum certificate in a settlement batch, then sign the batch root.

The committee for a batch is every validator with bonded stake at the batch's committee snapshot block
(`Committee.live`): Settlement counts live stake, so the certificate it verifies with EIP-2537 is a stake
certificate (that block, the non-signers, the others' aggregate signature over `batch_signing_root`). The root is
the batch circuit's Poseidon tree over the receipts' leaves (`ax0n.spec.settlement`, Settlement), or the optimistic
batch's header hash (`ax0n.spec.batch`, OptimisticSettlement), built here as the settler builds it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ax0n.spec import batch as batches
from ax0n.spec import bls, finality, settlement
from ax0n.spec import certificate as qc
from ax0n.spec.answers import Deployment, ModelSource
from ax0n.spec.certificate import VALID, Committee
from ax0n.spec.params import Params
from ax0n.spec.settlement import OperatorOf
from ax0n.v1 import types_pb2
from ax0n_validator.client import Quorums
from ax0n_validator.keys import Keystore

BatchRoot = Callable[[Sequence[types_pb2.FinalizedReceipt]], bytes]  # the 32-byte root the batch commits to


def poseidon_root(params: Params, operator_of: OperatorOf) -> BatchRoot:
    """The batch statement's root over the receipts' leaves (ax0n.spec.settlement), each crediting
    `operator_of(receipt)` as the settler credits it."""

    def root(receipts: Sequence[types_pb2.FinalizedReceipt]) -> bytes:
        leaves = [settlement.leaf_of(f, operator_of(f.receipt)) for f in receipts]
        return settlement.merkle_root(leaves, settlement.tree_size(params.max_batch_size)).to_bytes(32, "big")

    return root


def optimistic_root(params: Params, operator_of: OperatorOf) -> BatchRoot:
    """The optimistic batch's header hash (ax0n.spec.batch, OptimisticSettlement.headerHash) over the receipts'
    debits, each crediting `operator_of(receipt)`: leaves, chains and account entries as the settler builds them."""

    def root(receipts: Sequence[types_pb2.FinalizedReceipt]) -> bytes:
        debits = [batches.debit_of(f, operator_of(f.receipt)) for f in receipts]
        return batches.build(0, debits, params.operator_fee_share_bps).header.hash()

    return root


def check_batch(
    batch: types_pb2.Batch,
    receipts: Sequence[types_pb2.FinalizedReceipt],
    quorums: Quorums,
    models: ModelSource,
    batch_root: BatchRoot,
    deployment: Deployment,
) -> BatchRefusal | None:
    """None when every receipt is final (a VALID certificate of its own quorum, answering its client-signed request
    at the registered model and price: ax0n.spec.finality), appears once, and the root commits to them; otherwise
    why not, naming the receipts that are not final (the settler rebuilds the batch without them)."""
    if batch.count != len(receipts) or len(batch.batch_id) != 32 or len(batch.root) != 32:
        return BatchRefusal("batch count, id or root malformed")
    seen: set[bytes] = set()
    refused: list[tuple[bytes, str]] = []
    for i, final in enumerate(receipts):
        rid = bytes(final.receipt.request_id)
        if rid in seen:
            refused.append((rid, f"receipt {i}: request settled twice in one batch"))
            continue
        seen.add(rid)
        try:
            why = finality.final_fault(final, quorums.sets, deployment, quorums.params, models)
        except finality.Undecided as exc:
            return BatchRefusal(f"receipt {i}: {exc}", retry=True)
        if why:
            refused.append((rid, f"receipt {i}: {why}"))
    if refused:
        return BatchRefusal("; ".join(reason for _, reason in refused), tuple(rid for rid, _ in refused))
    try:
        root = batch_root(receipts)
    except (ValueError, settlement.Unsettleable) as exc:
        return BatchRefusal(f"receipts cannot form a batch: {exc}")
    if root != batch.root:
        return BatchRefusal("batch root does not commit to these receipts")
    return None


@dataclass(frozen=True, slots=True)
class BatchRefusal:
    """Why a validator will not sign a batch: the receipts that are not final (empty when the batch itself is at
    fault), or `retry` when it lacks the data to decide yet."""

    reason: str
    request_ids: tuple[bytes, ...] = ()
    retry: bool = False


def seat_attestation(
    keys: Keystore, board: Committee, message: bytes, request_id: bytes, receipt_hash: bytes, verdict: int
) -> types_pb2.Attestation | None:
    """One aggregate signature over `message` for every seat of `board` whose key this process holds, with its
    signer bitmap (None when it holds none); the settler combines these into the committee's certificate."""
    seats = {s: keys[pk] for s, pk in enumerate(board.pubkeys) if pk in keys}
    if not seats:
        return None
    att = types_pb2.Attestation(request_id=request_id, receipt_hash=receipt_hash, verdict=verdict)
    att.signature = bls.sign_many(list(seats.values()), message)
    att.signers = qc.encode_bitmap(sorted(seats), board.size)
    return att


def sign_batch(
    keys: Keystore, committee: Committee, batch: types_pb2.Batch, chain_id: int
) -> types_pb2.Attestation | None:
    """This process's signature over the batch root for all its seats (None when it holds none)."""
    message = qc.batch_signing_root(batch.batch_id, batch.root, chain_id)
    return seat_attestation(keys, committee, message, batch.batch_id, batch.root, VALID)
