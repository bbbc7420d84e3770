"""When a receipt is final: a VALID quorum certificate of the request's own quorum over exactly this receipt, and a
receipt that answers its client-signed request. Routers (before delivering a result), the settler (before batching),
the batch committee (before signing) and the SDK (before believing a result) call these; a finalized receipt is
never believed because it arrived on `ax0n:final`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ax0n.spec import answers
from ax0n.spec import certificate as qc
from ax0n.spec.committee import Validator
from ax0n.spec.params import MAINNET, Params
from ax0n.spec.receipt import receipt_hash
from ax0n.v1 import types_pb2

# snapshot block -> (that block's hash, the registered validator set then); None when unknown here
ValidatorSets = Callable[[int], tuple[bytes, Sequence[Validator]] | None]


class Undecided(Exception):
    """This party lacks the public data to decide (the validator set at the receipt's snapshot block): not a verdict,
    ask again later."""


def certificate_fault(
    receipt: types_pb2.Receipt,
    cert: types_pb2.QuorumCertificate,
    validator_sets: ValidatorSets,
    chain_id: int,
    params: Params = MAINNET,
) -> str:
    """Why `cert` is not a VALID certificate of `receipt`'s quorum over this receipt ('' when it is); Undecided when
    the validator set at its snapshot block is unknown here."""
    if cert.verdict != qc.VALID:
        return "the quorum did not certify the receipt VALID"
    try:
        digest = receipt_hash(receipt)
    except ValueError as exc:
        return f"receipt cannot be hashed: {exc}"
    if bytes(cert.request_id) != bytes(receipt.request_id) or bytes(cert.receipt_hash) != digest:
        return "certificate is for another request or receipt"
    block = receipt.route.snapshot_block
    known = validator_sets(block)
    if known is None:
        raise Undecided(f"validator set at block {block} is unknown here")
    block_hash, validators = known
    try:
        quorum, _ = qc.draw_request_quorum(
            validators, block, block_hash, bytes(receipt.request_id), params.validator_quorum_size
        )
        qc.verify_certificate(cert, quorum, chain_id, params)
    except (qc.InvalidCertificate, ValueError) as exc:
        return f"certificate: {exc}"
    return ""


def final_fault(
    final: types_pb2.FinalizedReceipt,
    validator_sets: ValidatorSets,
    deployment: answers.Deployment,
    params: Params = MAINNET,
    models: answers.ModelSource | None = None,
) -> str:
    """Why `final` is not final ('' when it is): its certificate (`certificate_fault`), and its receipt answering its
    request signed for `deployment` (`answers.receipt_fault` when `models` gives registrations, else the deployment
    and consistency parts)."""
    receipt = final.receipt
    if why := certificate_fault(receipt, final.certificate, validator_sets, deployment.chain_id, params):
        return why
    if models is None:
        return answers.deployment_fault(final.request, deployment) or answers.consistency_fault(receipt, final.request)
    model = models(receipt.route.snapshot_block, receipt.model_id)
    return answers.receipt_fault(receipt, final.request, model, deployment, params)
