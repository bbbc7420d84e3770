"""What each quorum member verifies before it attests, as typed checks the real implementations plug into.

The receipt signature (ax0n.spec.receipt), the zk proof (ProofCore) and the fingerprint re-execution (the
executor's `Reexecute` RPC) belong to other parts; the member verification takes them as callables so a
validator runs exactly those. A check this validator lacks makes it abstain: it never signs VALID for
something it did not verify.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ax0n.runtime import telemetry
from ax0n.runtime.calls import signed
from ax0n.spec import answers, binding, routing
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import Deployment, ModelSource
from ax0n.spec.params import Params
from ax0n.spec.request import InvalidSignature
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from ax0n.zk.artifacts import Artifacts

if TYPE_CHECKING:  # torch loads only where a validator re-executes in-process
    from ax0n.llm.engine import Engine
    from ax0n.llm.verify import Verification


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check: ok, or the reason it failed."""

    ok: bool
    reason: str = ""


OK = Finding(True)

ReceiptCheck = Callable[[types_pb2.Receipt], Finding]
ProofCheck = Callable[[types_pb2.ProvedReceipt], Finding]  # zk tier: the Groth16 envelope binds this receipt
Reexecutor = Callable[[types_pb2.ProvedReceipt], Awaitable[Finding]]  # LLM tier: fingerprint re-check


class RoutingIndexSource(Protocol):
    def __call__(self, snapshot_block: int) -> routing.RoutingIndex | None:
        """The routing index rebuilt at `snapshot_block`, or None when this validator does not know it."""


NodeSigner = Callable[[int, bytes], bytes | None]  # (snapshot block, node id) -> its signing key's address


def receipt_signature(receipt: types_pb2.Receipt) -> Finding:
    """The node's secp256k1 signature over the receipt's EIP-712 hash (ax0n.spec.receipt) recovers to its node_id."""
    try:
        receipts.verify(receipt)
    except (InvalidSignature, ValueError) as exc:
        return Finding(False, f"node signature: {exc}")
    return OK


def route_check(indexes: RoutingIndexSource, node_signer: NodeSigner, max_attempts: int = 4) -> ReceiptCheck:
    """The receipt's node must be the one NeuralRoute had to pick on the route's attempt (0, or k after k
    clusters failed; at most `max_attempts - 1`), and the receipt must be signed with that node's registered key."""

    def check(receipt: types_pb2.Receipt) -> Finding:
        decision = receipt.route
        index = indexes(decision.snapshot_block)
        if index is None:
            return Finding(False, f"no routing snapshot at block {decision.snapshot_block}")
        if decision.snapshot_hash != index.snapshot_hash:
            return Finding(False, "route names a snapshot hash other than the one at its block")
        if decision.request_id != receipt.request_id:
            return Finding(False, "route decision is for another request")
        if node_signer(decision.snapshot_block, decision.node_id) != receipt.node_id:
            return Finding(False, "receipt is not signed by the routed node's registered key")
        if decision.attempt >= max_attempts:
            return Finding(False, f"re-route attempt {decision.attempt} is past the limit of {max_attempts}")
        try:
            expected = routing.route(index, receipt.request_id, receipt.model_id, decision.attempt)
        except routing.NoRoute as exc:
            return Finding(False, f"no route: {exc}")
        if (expected.cluster, expected.node_id) == (decision.cluster_id, decision.node_id):
            return OK
        return Finding(False, "node is not the one NeuralRoute selects for this request")

    return check


def answers_check(models: ModelSource, params: Params, deployment: Deployment) -> ProofCheck:
    """The receipt answers the request it travels with: signed by its client for this deployment, naming its
    request, client, chain, fee cap and model, with the model's registration at the route's snapshot and the fee
    rule's charge (ax0n.spec.answers)."""

    def check(item: types_pb2.ProvedReceipt) -> Finding:
        receipt = item.receipt
        model = models(receipt.route.snapshot_block, receipt.model_id)
        why = answers.receipt_fault(receipt, item.request, model, deployment, params)
        return Finding(False, why) if why else OK

    return check


def zk_proof_check(mlp: Artifacts) -> ProofCheck:
    """zk tier (ProofCore's MLP circuit): the receipt's input and output hashes are those of the request's features
    and the served output, and the Groth16 envelope verifies for public inputs (commitment, inputHash, outputHash);
    the commitment itself is the registered one (answers_check)."""

    def check(item: types_pb2.ProvedReceipt) -> Finding:
        receipt, proof = item.receipt, item.proof
        why = binding.io_mismatch(receipt, item.request, item.output)
        if why:
            return Finding(False, why)
        if proof.circuit_id != mlp.spec.name:
            return Finding(False, f"proof is for circuit {proof.circuit_id!r}, not {mlp.spec.name!r}")
        public = [int.from_bytes(h, "big") for h in (receipt.model_commitment, receipt.input_hash, receipt.output_hash)]
        verdict = mlp.verify(proof.envelope, public)
        return OK if verdict else Finding(False, f"zk proof: {verdict.reason}")

    return check


def finding_of(v: Verification) -> Finding:
    return OK if v.valid else Finding(False, f"fingerprint re-execution failed: {v.reason}")


def local_reexecutor(engines: Mapping[str, Engine]) -> Reexecutor:
    """Re-run the prefill in this process on the validator's own copies of the models (ax0n.llm.verify)."""
    from ax0n.llm import verify

    async def reexecute(item: types_pb2.ProvedReceipt) -> Finding:
        engine = engines.get(item.receipt.model_id)
        if engine is None:
            return Finding(False, f"model {item.receipt.model_id!r} is not loaded for re-execution here")
        return finding_of(await asyncio.to_thread(verify.verify, engine, item.request, item.receipt, item.output))

    return reexecute


def grpc_reexecutor(target: str, caller_key: str, timeout_s: float = 60.0, ca_file: str = "") -> Reexecutor:
    """Re-run the prefill on the re-executor at `target` that this validator's operator runs (never an executor),
    each call signed with `caller_key` (ax0n.spec.calls), over TLS verified against `ca_file` when given."""
    stubs: list[validator_pb2_grpc.ReexecutorStub] = []  # the channel opens on first use, inside the event loop

    async def reexecute(item: types_pb2.ProvedReceipt) -> Finding:
        if not stubs:
            stubs.append(validator_pb2_grpc.ReexecutorStub(telemetry.channel(target, ca_file)))
        request = validator_pb2.ReexecuteRequest(request=item.request, receipt=item.receipt, output=item.output)
        reply = await stubs[0].Reexecute(request, timeout=timeout_s, metadata=signed(caller_key, "Reexecute", request))
        return OK if reply.valid else Finding(False, f"fingerprint re-execution failed: {reply.reason}")

    return reexecute


@dataclass(frozen=True, slots=True)
class MemberChecks:
    """The checks one validator runs; None where it cannot run one (it then abstains on that tier)."""

    receipt_signature: ReceiptCheck
    route: ReceiptCheck
    answers: ProofCheck  # the receipt answers its client-signed request (answers_check)
    proof: ProofCheck | None = None
    reexecute: Reexecutor | None = None


def check_common(item: types_pb2.ProvedReceipt, checks: MemberChecks, chain_id: int) -> Finding:
    """Checks every tier shares: the receipt answers its client-signed request, is signed by its node, and was
    routed right."""
    receipt = item.receipt
    if receipt.chain_id != chain_id:
        return Finding(False, f"receipt is for chain {receipt.chain_id}, not {chain_id}")
    for finding in (checks.answers(item), checks.receipt_signature(receipt), checks.route(receipt)):
        if not finding.ok:
            return finding
    return OK


def check_zk(item: types_pb2.ProvedReceipt, checks: MemberChecks, chain_id: int) -> Finding | None:
    """Full verdict for a zk-tier receipt; None when this validator has no proof check (abstain)."""
    if checks.proof is None:
        return None
    common = check_common(item, checks, chain_id)
    return common if not common.ok else checks.proof(item)
