"""Fault committees: check a quorum fault record, then sign its fault signing root for Settlement.challengeQuorumFault.

An aggregator's quorum `FaultRecord` is a receipt and its quorum's INVALID certificate. Settlement does not
re-derive a quorum (the stake-weighted shuffle) and counts live stake only, so the whole validator set attests the
fault again as a stake certificate, as for a batch: each validator checks the record itself (the receipt is signed
by the routed node's registered key in the receipt's registry snapshot; the certificate is a quorum of that
receipt's committee, drawn at that snapshot, signing INVALID for this receipt) and only then signs
`fault_signing_root(receipt hash)` for its seats among every validator with stake at that snapshot (the
certificate's reference block; `ax0n.spec.certificate`, docs/meshsync.md).
"""

from __future__ import annotations

from collections.abc import Callable

import grpc

from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.certificate import INVALID, Committee
from ax0n.v1 import types_pb2
from ax0n_validator.batch import seat_attestation
from ax0n_validator.client import Quorums
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import RegistrySnapshot

SnapshotSource = Callable[[int], RegistrySnapshot | None]


class Refusal(Exception):
    """Why a validator will not sign: `code` is the gRPC status SignFault answers with."""

    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _bad(reason: str) -> Refusal:
    return Refusal(grpc.StatusCode.INVALID_ARGUMENT, reason)


def check_fault(
    fault: types_pb2.FaultRecord, snapshots: SnapshotSource, quorums: Quorums, chain_id: int
) -> tuple[Committee, list[str], bytes]:
    """(the fault committee: every validator with stake at the receipt's snapshot, its members' registered
    addresses by seat, the receipt hash) of a sound quorum fault record; raises Refusal: INVALID_ARGUMENT for evidence that proves nothing, FAILED_PRECONDITION when this
    validator lacks the registry data to check it or to name the committee to Settlement."""
    if not fault.HasField("receipt") or not fault.HasField("certificate"):
        raise _bad("not a quorum fault record: a receipt and its quorum certificate are needed")
    receipt, cert = fault.receipt, fault.certificate
    if receipt.chain_id != chain_id:
        raise _bad(f"receipt is for chain {receipt.chain_id}, not {chain_id}")
    try:
        digest, signer = receipts.receipt_hash(receipt), receipts.recover(receipt)
    except ValueError as exc:  # InvalidSignature is a ValueError
        raise _bad(f"receipt signature: {exc}") from exc
    block = receipt.route.snapshot_block
    snap = snapshots(block)
    drawn = quorums(receipt)
    if snap is None or drawn is None:
        raise Refusal(grpc.StatusCode.FAILED_PRECONDITION, f"no registry snapshot at block {block}")
    node = bytes(receipt.route.node_id)
    registered = snap.node_signers.get(node)
    if registered is None:
        raise _bad(f"routed node 0x{node.hex()} is not registered at snapshot {block}")
    if signer != registered or signer != bytes(receipt.node_id):
        raise _bad(f"receipt signed by 0x{signer.hex()}, not by the routed node's registered key 0x{registered.hex()}")
    if cert.verdict != INVALID:
        raise _bad("certificate's verdict is not INVALID")
    if cert.request_id != receipt.request_id or cert.receipt_hash != digest:
        raise _bad("certificate is for another request or receipt")
    quorum = drawn[0]
    try:
        qc.verify_certificate(cert, quorum, chain_id, quorums.params)
    except qc.InvalidCertificate as exc:
        raise _bad(f"certificate: {exc}") from exc
    board = Committee.live(snap.validators, block)
    addresses = [snap.addresses[m] for m in board.members]
    if not all(addresses):
        raise Refusal(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"snapshot {block} lacks validator addresses: Settlement cannot check this committee",
        )
    return board, addresses, digest


def sign_fault(
    keys: Keystore, board: Committee, receipt: types_pb2.Receipt, digest: bytes, chain_id: int
) -> types_pb2.Attestation | None:
    """This process's signature over the receipt's fault signing root for all its seats (None when it holds none)."""
    message = qc.fault_signing_root(digest, chain_id)
    return seat_attestation(keys, board, message, bytes(receipt.request_id), digest, INVALID)
