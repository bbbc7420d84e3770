"""SignFault: a validator signs a quorum fault's signing root only for a record it checked itself; each refusal
is a precise gRPC status. Real BLS keys, real receipts and routing, the real client and aggregator, in-process gRPC."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.checks import MemberChecks
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import SnapshotDir
from ax0n_validator.server import CommitteeSigner, ValidatorServicer, ValidatorSettings

from ax0n.runtime.calls import signed
from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.certificate import Committee
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from tests.clients import CALLER, CALLER_KEY, STRANGER_KEY

from .helpers import CHAIN_ID, SNAPSHOT_BLOCK
from .scenario import NODE_KEYS, checks, proved_receipt, write_snapshot

KEYS = Keystore.derive(b"fault committee", 6)


async def fault_for(snapshots: SnapshotDir, tag: bytes) -> types_pb2.FaultRecord:
    """The aggregator's FaultRecord for an LLM-tier receipt whose node served another model than the request named:
    every member's real checks find it INVALID (no re-execution needed)."""
    quorums = Quorums(snapshots.validator_set, DEVNET)
    c = checks()
    client = ValidatorClient(
        KEYS, quorums, MemberChecks(c.receipt_signature, c.route, c.answers), receipts.receipt_hash, CHAIN_ID
    )
    aggregator = Aggregator(quorums, receipts.receipt_hash, CHAIN_ID)
    item = proved_receipt(hashlib.sha256(tag).digest(), tier=types_pb2.TIER_LLM)
    item.request.model_id = "another-model"
    aggregator.add_receipt(item)
    outcomes = [aggregator.add_attestation(a) for a in await client.on_proved(item)]
    [record] = [o for o in outcomes if o is not None]
    assert isinstance(record, types_pb2.FaultRecord) and record.certificate.verdict == qc.INVALID
    return record


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[validator_pb2_grpc.ValidatorStub]:
    write_snapshot(tmp_path, KEYS)
    snapshots = SnapshotDir(tmp_path)
    signer = CommitteeSigner(KEYS, snapshots, Quorums(snapshots.validator_set, DEVNET), DEVNET_DEPLOYMENT)
    settings = ValidatorSettings(chain_id=CHAIN_ID, profile="devnet", allowed_callers=CALLER)
    server = grpc.aio.server()
    validator_pb2_grpc.add_ValidatorServicer_to_server(ValidatorServicer(settings, len(KEYS), None, signer), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield validator_pb2_grpc.ValidatorStub(channel)
    await server.stop(None)


async def _refusal(stub: validator_pb2_grpc.ValidatorStub, fault: types_pb2.FaultRecord) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await sign_fault(stub, fault)
    return exc.value.code(), exc.value.details()


async def sign_fault(
    stub: validator_pb2_grpc.ValidatorStub, fault: types_pb2.FaultRecord, key: str | None = CALLER_KEY
) -> validator_pb2.SignFaultResponse:
    ask = validator_pb2.SignFaultRequest(fault=fault)
    return await stub.SignFault(ask, timeout=10, metadata=signed(key, "SignFault", ask) if key else None)


async def test_sign_fault_serves_only_allowed_callers(stub: validator_pb2_grpc.ValidatorStub, tmp_path: Path) -> None:
    record = await fault_for(SnapshotDir(tmp_path), b"who asks")
    for key, code in ((None, grpc.StatusCode.UNAUTHENTICATED), (STRANGER_KEY, grpc.StatusCode.PERMISSION_DENIED)):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await sign_fault(stub, record, key)
        assert exc.value.code() == code
    assert (await sign_fault(stub, record)).signatures


def _copy(record: types_pb2.FaultRecord) -> types_pb2.FaultRecord:
    out = types_pb2.FaultRecord()
    out.CopyFrom(record)
    return out


async def test_sign_fault_attests_a_checked_quorum_fault(
    stub: validator_pb2_grpc.ValidatorStub, tmp_path: Path
) -> None:
    snapshots = SnapshotDir(tmp_path)
    record = await fault_for(snapshots, b"fault")
    reply = await sign_fault(stub, record)
    snap = snapshots.get(SNAPSHOT_BLOCK)
    quorum = Committee.live(snap.validators, SNAPSHOT_BLOCK)  # a stake certificate: every validator with stake
    assert list(reply.committee) == [snap.addresses[m] for m in quorum.members]  # the seats Settlement checks
    assert list(reply.stakes) == [str(s) for s in quorum.stakes]
    [att] = reply.signatures
    digest = receipts.receipt_hash(record.receipt)
    assert (att.request_id, att.receipt_hash, att.verdict) == (record.receipt.request_id, digest, qc.INVALID)
    message = qc.fault_signing_root(digest, CHAIN_ID)
    assert qc.verify_aggregate(quorum, message, att.signers, att.signature) == list(range(quorum.size))
    assert qc.verify_stake_certificate(quorum, list(reply.committee), message, [], att.signature, DEVNET)
    # the signature is over the fault root alone: not a batch root, not the quorum's attestation message
    as_batch = qc.compute_signing_root(hashlib.sha256(digest).digest(), qc.compute_domain(qc.DOMAIN_BATCH, CHAIN_ID))
    assert not bls.fast_aggregate_verify(list(quorum.pubkeys), as_batch, att.signature)


async def test_sign_fault_refusals_are_precise(stub: validator_pb2_grpc.ValidatorStub, tmp_path: Path) -> None:
    snapshots = SnapshotDir(tmp_path)
    record = await fault_for(snapshots, b"refused")
    bad = grpc.StatusCode.INVALID_ARGUMENT

    no_cert = _copy(record)
    no_cert.ClearField("certificate")
    assert await _refusal(stub, no_cert) == (
        bad,
        "will not sign this fault: not a quorum fault record: a receipt and its quorum certificate are needed",
    )

    valid = _copy(record)
    valid.certificate.verdict = qc.VALID
    assert await _refusal(stub, valid) == (bad, "will not sign this fault: certificate's verdict is not INVALID")

    tampered = _copy(record)
    tampered.receipt.fee = "1"  # changed after signing: recovers to some other key
    code, details = await _refusal(stub, tampered)
    assert code == bad and "not by the routed node's registered key" in details

    other_key = next(k for nid, k in NODE_KEYS.items() if nid != record.receipt.route.node_id)
    impostor = _copy(record)
    impostor.receipt.CopyFrom(receipts.sign(record.receipt, other_key))  # signed, but not by the routed node's key
    code, details = await _refusal(stub, impostor)
    assert code == bad and "not by the routed node's registered key" in details

    other = await fault_for(snapshots, b"another fault")
    swapped = _copy(record)
    swapped.certificate.CopyFrom(other.certificate)
    assert await _refusal(stub, swapped) == (
        bad,
        "will not sign this fault: certificate is for another request or receipt",
    )

    below = _copy(record)
    below.certificate.signers = qc.encode_bitmap([0], len(KEYS))  # claims one seat, carries all six signatures
    code, details = await _refusal(stub, below)
    assert code == bad and details.startswith("will not sign this fault: certificate: ")

    wrong_chain = _copy(record)
    wrong_chain.receipt.chain_id = 1
    wrong_chain.receipt.CopyFrom(receipts.sign(wrong_chain.receipt, NODE_KEYS[record.receipt.route.node_id]))
    assert await _refusal(stub, wrong_chain) == (
        bad,
        f"will not sign this fault: receipt is for chain 1, not {CHAIN_ID}",
    )

    unknown = _copy(record)
    unknown.receipt.route.snapshot_block = SNAPSHOT_BLOCK + 1
    unknown.receipt.CopyFrom(receipts.sign(unknown.receipt, NODE_KEYS[record.receipt.route.node_id]))
    assert await _refusal(stub, unknown) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        f"will not sign this fault: no registry snapshot at block {SNAPSHOT_BLOCK + 1}",
    )


async def test_sign_fault_needs_keys_and_a_registry() -> None:
    server = grpc.aio.server()
    settings = ValidatorSettings(chain_id=CHAIN_ID, allowed_callers=CALLER)
    validator_pb2_grpc.add_ValidatorServicer_to_server(ValidatorServicer(settings, 0, None, None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = validator_pb2_grpc.ValidatorStub(channel)
            code, details = await _refusal(stub, types_pb2.FaultRecord())
    finally:
        await server.stop(None)
    assert (code, details) == (grpc.StatusCode.FAILED_PRECONDITION, "this validator holds no keys or registry")
