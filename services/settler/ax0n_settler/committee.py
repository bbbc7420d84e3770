"""Committee certificates: the BLS aggregates Settlement.submitBatch and Settlement.challengeQuorumFault check.

Settlement takes a stake certificate `Certificate(referenceBlock, nonSigners, signature)`: the committee is every
validator with bonded stake at the reference block (the batch's committee snapshot block, or the faulty
receipt's snapshot block), `nonSigners` the members that did not sign (ascending addresses), and the signature
the others' aggregate (EIP-2537 G2 encoding) over `batch_signing_root(batch_id, root, chain_id)` for a batch, or
`fault_signing_root(receipt_hash, chain_id)` for a quorum fault; the signers must hold ≥ 2/3 of that block's
validator stake (`ax0n.spec.certificate`, docs/meshsync.md).
`ValidatorCommittee` asks the validators' `SignBatch`, which check every receipt's certificate and the root
before signing, and `SignFault`, which check the fault record (the receipt's signature and its quorum's INVALID
certificate) before signing; `LocalCommittee` signs batches with validator keys this process holds (tests only).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import grpc
from eth_utils import to_checksum_address

from ax0n.chain.batch import certificate_args
from ax0n.runtime import tls
from ax0n.runtime.calls import signed
from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import batch_signing_root
from ax0n.spec.params import MAINNET, has_quorum
from ax0n.spec.settlement import REFUSED_TRAILER, batch_id
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from ax0n_settler.chain import Certificate

_Signed = validator_pb2.SignBatchResponse | validator_pb2.SignFaultResponse


class BatchCommittee(Protocol):
    def certify(self, seq: int, root: int, chain_id: int, finals: Sequence[types_pb2.FinalizedReceipt]) -> Certificate:
        """The committee's certificate for batch `seq` with `root` over `finals` on chain `chain_id`."""


class FaultCommittee(Protocol):
    def certify_fault(self, fault: types_pb2.FaultRecord) -> Certificate:
        """The fault committee's certificate over the fault record's receipt, for challengeQuorumFault."""


class CommitteeUnavailable(Exception):
    """Too few of the committee signed (yet); the settler asks again (next pass, or the fault's next delivery)."""


class CommitteeRefused(ValueError):
    """Every validator answered and each refused the request as invalid (INVALID_ARGUMENT): asking again is futile.
    `request_ids` are the receipts they named as not final (empty: the request itself is at fault)."""

    def __init__(self, message: str, request_ids: frozenset[bytes] = frozenset()) -> None:
        super().__init__(message)
        self.request_ids = request_ids


class ValidatorCommittee:
    """Collects a committee's signatures from validator processes (`ax0n-validator`): the batch committee's
    (SignBatch) and a quorum fault's (SignFault)."""

    def __init__(
        self,
        targets: Sequence[str],
        caller_key: str,
        timeout_s: float = 60.0,
        head: Callable[[], int] | None = None,
        interval: int = MAINNET.routing_rebuild_interval,
        ca_file: str = "",
    ) -> None:
        """`caller_key` signs every call (ax0n.spec.calls): validators serve only the settlers they allow. With
        `ca_file`, calls go over TLS to validators whose certificates chain to it (ax0n.runtime.tls)."""
        if not targets:
            raise ValueError("a validator committee needs at least one validator address")
        self.targets, self.caller_key, self.timeout_s = list(targets), caller_key, timeout_s
        self.ca_file = ca_file
        self.head, self.interval = head, interval

    def certify(self, seq: int, root: int, chain_id: int, finals: Sequence[types_pb2.FinalizedReceipt]) -> Certificate:
        snapshots = [f.receipt.route.snapshot_block for f in finals]
        # the newest rebuild block (no older than any receipt's registry): a recent reference block
        snapshot = qc.batch_reference_block(self.head(), snapshots, self.interval) if self.head else max(snapshots)
        batch = types_pb2.Batch(
            batch_id=batch_id(seq), root=root.to_bytes(32, "big"), count=len(finals), committee_snapshot_block=snapshot
        )
        request = validator_pb2.SignBatchRequest(batch=batch, receipts=list(finals))
        metadata = signed(self.caller_key, "SignBatch", request)
        return self._collect(
            f"batch {seq}", snapshot, lambda stub: stub.SignBatch(request, timeout=self.timeout_s, metadata=metadata)
        )

    def certify_fault(self, fault: types_pb2.FaultRecord) -> Certificate:
        """The validators' stake certificate over the receipt's fault signing root, referring to the receipt's
        snapshot block, for Settlement.challengeQuorumFault."""
        request = validator_pb2.SignFaultRequest(fault=fault)
        what = f"fault of request 0x{bytes(fault.receipt.request_id).hex()}"
        block = fault.receipt.route.snapshot_block
        metadata = signed(self.caller_key, "SignFault", request)
        return self._collect(
            what, block, lambda stub: stub.SignFault(request, timeout=self.timeout_s, metadata=metadata)
        )

    def _collect(
        self, what: str, block: int, ask: Callable[[validator_pb2_grpc.ValidatorStub], _Signed]
    ) -> Certificate:
        """Ask every validator, join the signatures of those naming one committee (with its stakes) at `block`;
        CommitteeRefused when every one refused it as invalid, CommitteeUnavailable when the signers hold less
        than 2/3 of the committee's stake."""
        attestations, members, stakes, refusals, invalid = [], None, None, [], 0
        named: set[bytes] = set()
        for target in self.targets:
            try:
                with tls.sync_channel(target, self.ca_file) as channel:
                    reply = ask(validator_pb2_grpc.ValidatorStub(channel))
            except grpc.RpcError as exc:
                refusals.append(f"{target}: {exc.code().name}: {exc.details()}")
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    invalid += 1
                    named |= _refused_requests(exc)
                continue
            if members is not None and (list(reply.committee), list(reply.stakes)) != (members, stakes):
                refusals.append(f"{target}: names another committee")
                continue
            members, stakes = list(reply.committee), list(reply.stakes)
            attestations += list(reply.signatures)
        if invalid == len(self.targets):
            raise CommitteeRefused(f"{what}: every validator refused it ({'; '.join(refusals)})", frozenset(named))
        if not members:
            raise CommitteeUnavailable(f"{what}: no validator signed ({'; '.join(refusals)})")
        try:
            signers, signature = qc.combine(attestations, len(members))
        except qc.InvalidCertificate as exc:
            raise CommitteeUnavailable(f"{what}: {exc}") from None
        seats = qc.decode_bitmap(signers, len(members))
        weights = [int(w) for w in stakes or ()]
        if len(weights) != len(members):
            raise CommitteeUnavailable(f"{what}: the committee's stakes do not match its seats")
        signed, total = sum(weights[s] for s in seats), sum(weights)
        if not has_quorum(signed, total):
            raise CommitteeUnavailable(
                f"{what}: signers hold {signed} of {total} stake, {len(seats)} of {len(members)} seats "
                f"({'; '.join(refusals)})"
            )
        unsigned = [a for s, a in enumerate(members) if s not in set(seats)]
        reference, nonsigners, sig = certificate_args(block, unsigned, signature)
        return reference, list(nonsigners), sig


def _refused_requests(exc: grpc.RpcError) -> set[bytes]:
    """The request ids a refusing validator named in its trailing metadata (settlement.REFUSED_TRAILER)."""
    trailer = dict(exc.trailing_metadata() or ()).get(REFUSED_TRAILER, "")  # type: ignore[attr-defined]
    try:
        return {bytes.fromhex(rid) for rid in trailer.split(",") if rid}
    except ValueError:
        return set()


class LocalCommittee:
    """Signs as every validator, with BLS secret keys this process holds, checking nothing (tests only: a settler
    holding the committee's keys makes the committee's check meaningless). Its certificate names no non-signer,
    so these must be every validator with stake at the reference block (the batch's newest receipt snapshot,
    or, given `head`, `batch_reference_block`)."""

    def __init__(
        self,
        keys: Mapping[str, bls.SecretKey],
        head: Callable[[], int] | None = None,
        interval: int = MAINNET.routing_rebuild_interval,
    ) -> None:
        if not keys:
            raise ValueError("a committee needs at least one key")
        self.keys = {to_checksum_address(a): k for a, k in keys.items()}
        self.head, self.interval = head, interval

    @classmethod
    def from_dir(
        cls, path: str | Path, head: Callable[[], int] | None = None, interval: int = MAINNET.routing_rebuild_interval
    ) -> LocalCommittee:
        """`<validator address>.key` files, each holding a hex BLS secret key."""
        files = sorted(Path(path).glob("*.key"))
        keys = {f.stem: bls.secret_from_bytes(bytes.fromhex(f.read_text().strip())) for f in files}
        return cls(keys, head, interval)

    def certify(
        self, seq: int, root: int, chain_id: int, finals: Sequence[types_pb2.FinalizedReceipt] = ()
    ) -> Certificate:
        message = batch_signing_root(batch_id(seq), root.to_bytes(32, "big"), chain_id)
        signature = bls.sign_many(list(self.keys.values()), message)
        snapshots = [f.receipt.route.snapshot_block for f in finals]
        if self.head is not None:
            block = qc.batch_reference_block(self.head(), snapshots, self.interval)
        elif snapshots:
            block = max(snapshots)
        else:
            raise ValueError("a reference block needs the batch's receipts or a chain head")
        reference, nonsigners, sig = certificate_args(block, [], signature)
        return reference, list(nonsigners), sig
