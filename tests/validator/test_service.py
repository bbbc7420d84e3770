"""The ax0n-validator process: registry snapshots and keys from files, status, certificates by request id."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest
from ax0n_tools.devnet.services import ServiceProcess
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.batch import poseidon_root
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import SnapshotDir, parse

from ax0n.runtime.calls import signed
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import Committee
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from tests.clients import CALLER, CALLER_KEY, STRANGER_KEY

from .helpers import CHAIN_ID, SNAPSHOT_BLOCK, SNAPSHOT_HASH
from .scenario import checks, proved_receipt, receipt_hash, snapshot, write_snapshot


def test_snapshots_leave_out_keys_without_proof_of_possession(tmp_path: Path) -> None:
    keys = Keystore.derive(b"snapshot test", 6)
    write_snapshot(tmp_path, keys, bad_pop=2)
    snap = parse((tmp_path / f"{SNAPSHOT_BLOCK}.json").read_text())
    assert len(snap.validators) == 5 and list(keys)[2] not in {v.pubkey for v in snap.validators}
    source = SnapshotDir(tmp_path)
    assert source.validator_set(SNAPSHOT_BLOCK)[0] == SNAPSHOT_HASH
    assert source.validator_set(SNAPSHOT_BLOCK + 1) is None
    assert source.routing_index(SNAPSHOT_BLOCK).snapshot_hash == snapshot().hash()


def test_keystore_reads_key_files(tmp_path: Path) -> None:
    keys = Keystore.derive(b"files", 3)
    for i, pk in enumerate(keys):
        (tmp_path / f"{i}.key").write_text(bytes(keys[pk]).hex())
    assert set(Keystore.from_dir(tmp_path)) == set(keys)


async def finalize(keys: Keystore, snapshots: SnapshotDir, count: int) -> list[types_pb2.FinalizedReceipt]:
    quorums = Quorums(snapshots.validator_set, DEVNET)
    client = ValidatorClient(keys, quorums, checks(), receipt_hash, CHAIN_ID)
    aggregator = Aggregator(quorums, receipt_hash, CHAIN_ID)
    out = []
    for i in range(count):
        item = proved_receipt(hashlib.sha256(b"service batch %d" % i).digest())
        aggregator.add_receipt(item)
        out += [r for a in await client.on_proved(item) if (r := aggregator.add_attestation(a)) is not None]
    assert all(isinstance(r, types_pb2.FinalizedReceipt) for r in out) and len(out) == count
    return out


async def test_the_service_runs_from_files_and_signs_batches(tmp_path: Path, redis_url: str) -> None:
    keys = Keystore.derive(b"service test", 8)
    (tmp_path / "keys").mkdir()
    for i, pk in enumerate(keys):
        (tmp_path / "keys" / f"{i}.key").write_text(bytes(keys[pk]).hex())
    write_snapshot(tmp_path, keys)
    finalized = await finalize(keys, SnapshotDir(tmp_path), 2)
    operators = {node.node_id: node.operator for node in snapshot().nodes}

    def operator_of(receipt: types_pb2.Receipt) -> bytes:  # the settler credits the routed node's operator
        return operators[bytes(receipt.route.node_id)]

    batch = types_pb2.Batch(
        batch_id=(5).to_bytes(32, "big"),
        root=poseidon_root(DEVNET, operator_of)(finalized),
        count=2,
        committee_snapshot_block=SNAPSHOT_BLOCK,
    )
    args = ["--snapshots-dir", str(tmp_path), "--keys-dir", str(tmp_path / "keys"), "--chain-id", str(CHAIN_ID)]
    args += ["--allowed-callers", CALLER]
    service = ServiceProcess("validator", redis_url, *args, "--profile", "devnet").start()
    try:
        assert service.healthy()
        async with grpc.aio.insecure_channel(service.target) as channel:
            stub = validator_pb2_grpc.ValidatorStub(channel)
            status = await stub.Status(types_pb2.StatusRequest(), timeout=5)
            assert status.details["keys"] == "8" and status.details["aggregator"] == "true"
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await stub.GetCertificate(validator_pb2.GetCertificateRequest(request_id=b"\x00" * 32), timeout=5)
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND

            ask = validator_pb2.SignBatchRequest(batch=batch, receipts=finalized)
            for key, code in ((None, "UNAUTHENTICATED"), (STRANGER_KEY, "PERMISSION_DENIED")):
                with pytest.raises(grpc.aio.AioRpcError) as unallowed:  # checking a batch is work: callers sign
                    await stub.SignBatch(ask, timeout=30, metadata=signed(key, "SignBatch", ask) if key else None)
                assert unallowed.value.code().name == code
            reply = await stub.SignBatch(ask, timeout=30, metadata=signed(CALLER_KEY, "SignBatch", ask))
            validators = SnapshotDir(tmp_path).validator_set(SNAPSHOT_BLOCK)[1]
            board = Committee.live(validators, SNAPSHOT_BLOCK)  # every validator with stake
            signers, signature = qc.combine(list(reply.signatures), board.size)
            seats = qc.verify_batch_signature(board, batch.batch_id, batch.root, CHAIN_ID, signers, signature, DEVNET)
            assert seats == list(range(board.size))
            snap = SnapshotDir(tmp_path).get(SNAPSHOT_BLOCK)
            assert list(reply.committee) == [snap.addresses[m] for m in board.members]  # what Settlement checks
            assert list(reply.stakes) == [str(s) for s in board.stakes]

            by_node_id = types_pb2.Batch()
            by_node_id.CopyFrom(batch)
            by_node_id.root = poseidon_root(DEVNET, lambda r: bytes(r.node_id))(finalized)  # the key, not the operator
            with pytest.raises(grpc.aio.AioRpcError) as wrong_operator:
                ask = validator_pb2.SignBatchRequest(batch=by_node_id, receipts=finalized)
                await stub.SignBatch(ask, timeout=30, metadata=signed(CALLER_KEY, "SignBatch", ask))
            assert "root" in wrong_operator.value.details()

            forged = types_pb2.Batch()
            forged.CopyFrom(batch)
            forged.root = b"\x01" * 32
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                ask = validator_pb2.SignBatchRequest(batch=forged, receipts=finalized)
                await stub.SignBatch(ask, timeout=30, metadata=signed(CALLER_KEY, "SignBatch", ask))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # refused for good: the settler rebuilds it
            assert "root" in refused.value.details()
    finally:
        code = service.terminate()
    assert code == 0, "".join(service.output)
