"""zk tier end to end: a real Groth16 proof of ProofCore's MLP circuit, checked by every quorum member."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import grpc
import pytest
from ax0n_tools.devnet.redis import RedisServer
from ax0n_tools.devnet.services import ServiceProcess
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.checks import receipt_signature
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import SnapshotDir

from ax0n.mempool import Mempool, streams
from ax0n.spec import certificate as qc
from ax0n.spec import committee
from ax0n.spec import receipt as receipts
from ax0n.spec.certificate import Committee
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from ax0n.zk import artifacts
from ax0n.zk.mlp import Prediction

from .helpers import CHAIN_ID, SNAPSHOT_BLOCK, SNAPSHOT_HASH, Registry
from .scenario import (
    FEATURES,
    MLP_MODEL,
    ZK_PROMPT,
    Validators,
    proved_receipt,
    with_claims,
    write_snapshot,
    zk_checks,
)


@pytest.fixture(scope="module")
def mlp() -> artifacts.Artifacts:
    return artifacts.load(artifacts.MLP)  # built once and cached under .cache/artifacts


@pytest.fixture(scope="module")
def honest(mlp: artifacts.Artifacts) -> types_pb2.ProvedReceipt:
    prediction = MLP_MODEL.forward(FEATURES)
    envelope = mlp.prove(MLP_MODEL.circuit_inputs(FEATURES, prediction))
    return with_claims(
        proved_receipt(hashlib.sha256(b"zk honest").digest(), prompt=ZK_PROMPT), prediction, envelope, mlp
    )


async def verdicts(registry: Registry, mlp: artifacts.Artifacts, item, registered: bytes | None = None):
    zk = zk_checks(mlp, registered)
    validators = Validators(registry)
    quorums = Quorums(validators.sets)
    agg = Aggregator(quorums, receipts.receipt_hash, CHAIN_ID)
    agg.add_receipt(item)
    atts, outcome = [], None
    for ks in validators.keystores(4):
        for att in await ValidatorClient(ks, quorums, zk, receipts.receipt_hash, CHAIN_ID).on_proved(item):
            atts.append(att)
            outcome = agg.add_attestation(att) or outcome
    return {a.verdict for a in atts}, {a.reason for a in atts}, outcome


async def test_a_proven_zk_receipt_finalizes(registry: Registry, mlp: artifacts.Artifacts, honest) -> None:
    assert receipt_signature(honest.receipt).ok
    seen, _, outcome = await verdicts(registry, mlp, honest)
    assert seen == {qc.VALID} and isinstance(outcome, types_pb2.FinalizedReceipt)


async def test_a_wrong_output_with_an_honest_proof_is_rejected(
    registry: Registry, mlp: artifacts.Artifacts, honest
) -> None:
    real = MLP_MODEL.forward(FEATURES)
    fake = Prediction((real.label + 1) % len(real.logits), real.logits)
    item = types_pb2.ProvedReceipt()
    item.CopyFrom(honest)
    item = with_claims(item, fake, honest.proof.envelope, mlp)  # consistent hashes, but the proof is of the real output
    seen, reasons, outcome = await verdicts(registry, mlp, item)
    assert seen == {qc.INVALID} and isinstance(outcome, types_pb2.FaultRecord)
    assert any("zk proof" in r for r in reasons)


async def test_served_output_must_match_the_receipt(registry: Registry, mlp: artifacts.Artifacts, honest) -> None:
    item = types_pb2.ProvedReceipt()
    item.CopyFrom(honest)
    real = MLP_MODEL.forward(FEATURES)
    item.output = Prediction(real.label, tuple(v + 1 for v in real.logits)).to_json()
    seen, reasons, _ = await verdicts(registry, mlp, item)
    assert seen == {qc.INVALID} and reasons == {"output hash is not the served output"}


async def test_an_unregistered_commitment_is_rejected(registry: Registry, mlp: artifacts.Artifacts, honest) -> None:
    seen, reasons, _ = await verdicts(registry, mlp, honest, registered=b"\x01" * 32)
    assert seen == {qc.INVALID} and any("is not model" in r and "registration" in r for r in reasons)


async def test_the_validator_service_finalizes_a_proven_receipt_from_the_stream(
    tmp_path: Path, honest: types_pb2.ProvedReceipt
) -> None:
    keys = Keystore.derive(b"zk service", 8)
    (tmp_path / "keys").mkdir()
    for i, pk in enumerate(keys):
        (tmp_path / "keys" / f"{i}.key").write_text(bytes(keys[pk]).hex())
    write_snapshot(tmp_path, keys, zk_commitment=MLP_MODEL.commitment_bytes())
    args = ["--snapshots-dir", str(tmp_path), "--keys-dir", str(tmp_path / "keys"), "--chain-id", str(CHAIN_ID)]
    with RedisServer() as redis_server:  # a private server: this test uses the real stream names
        service = ServiceProcess("validator", redis_server.url, *args, "--profile", "devnet").start()
        pool = Mempool.from_url(redis_server.url)
        try:
            await pool.publish(streams.PROVED, honest, key=honest.receipt.request_id.hex())
            final = None
            for _ in range(600):
                rows = await pool.redis.xrange(streams.FINAL)
                if rows:
                    final = types_pb2.FinalizedReceipt.FromString(rows[0][1][b"data"])
                    break
                await asyncio.sleep(0.05)
            assert final is not None, "".join(service.output)
            validators = SnapshotDir(tmp_path).validator_set(SNAPSHOT_BLOCK)[1]
            members = committee.request_quorum(validators, SNAPSHOT_HASH, honest.receipt.request_id, 16)
            quorum = Committee.draw(validators, members, SNAPSHOT_BLOCK)
            assert qc.verify_certificate(final.certificate, quorum, CHAIN_ID, DEVNET) == list(range(8))
            async with grpc.aio.insecure_channel(service.target) as channel:
                stub = validator_pb2_grpc.ValidatorStub(channel)
                request = validator_pb2.GetCertificateRequest(request_id=honest.receipt.request_id)
                assert await stub.GetCertificate(request, timeout=5) == final.certificate
        finally:
            await pool.close()
            code = service.terminate()
        assert code == 0, "".join(service.output)
