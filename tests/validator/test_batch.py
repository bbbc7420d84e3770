"""Batch committees: check each receipt's certificate, sign the batch root; the aggregate verifies as the contract will."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.batch import check_batch, optimistic_root, sign_batch
from ax0n_validator.client import Quorums, ValidatorClient
from py_ecc.bls import G2ProofOfPossession as PyEcc

from ax0n.spec import batch as batches
from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.certificate import Committee, InvalidCertificate
from ax0n.v1 import types_pb2

from .helpers import CHAIN_ID, SNAPSHOT_BLOCK, Registry
from .scenario import Validators, checks, models, proved_receipt, receipt_hash


def root_of(receipts) -> bytes:
    """Stands in for the settler's batch root (the batch circuit's Poseidon tree) in these tests."""
    return hashlib.sha256(b"".join(receipt_hash(f.receipt) for f in receipts)).digest()


@pytest.fixture(scope="module")
def finalized(registry: Registry) -> list[types_pb2.FinalizedReceipt]:
    validators = Validators(registry)
    quorums = Quorums(validators.sets)
    clients = [ValidatorClient(ks, quorums, checks(), receipt_hash, CHAIN_ID) for ks in validators.keystores(4)]
    agg = Aggregator(quorums, receipt_hash, CHAIN_ID)
    out = []

    async def run() -> None:
        for i in range(3):
            item = proved_receipt(hashlib.sha256(b"batch receipt %d" % i).digest())
            agg.add_receipt(item)
            for c in clients:
                for att in await c.on_proved(item):
                    result = agg.add_attestation(att)
                    if result is not None:
                        out.append(result)

    asyncio.run(run())
    assert len(out) == 3 and all(isinstance(f, types_pb2.FinalizedReceipt) for f in out)
    return out


def batch_of(receipts) -> types_pb2.Batch:
    return types_pb2.Batch(batch_id=(7).to_bytes(32, "big"), root=root_of(receipts), count=len(receipts))


def test_batch_committee_signs_a_batch_of_certified_receipts(registry: Registry, finalized) -> None:
    quorums = Quorums(Validators(registry).sets)
    batch = batch_of(finalized)
    assert check_batch(batch, finalized, quorums, models(), root_of, DEVNET_DEPLOYMENT) is None

    board = Committee.live(registry.validators, SNAPSHOT_BLOCK)  # every validator with stake signs a batch
    assert board.size == sum(1 for v in registry.validators if v.stake > 0)
    addresses = [f"0x{m + 1:040x}" for m in board.members]
    parts = [sign_batch(ks, board, batch, CHAIN_ID) for ks in Validators(registry).keystores(4)]
    seats = sorted(s for p in parts for s in qc.attestation_seats(p, board.size))
    assert seats == list(range(board.size))
    signers = qc.encode_bitmap(seats, board.size)
    signature = bls.aggregate([p.signature for p in parts])
    assert qc.verify_batch_signature(board, batch.batch_id, batch.root, CHAIN_ID, signers, signature) == seats
    message = qc.batch_signing_root(batch.batch_id, batch.root, CHAIN_ID)
    assert qc.non_signers(board, addresses, seats) == []
    assert qc.verify_stake_certificate(board, addresses, message, [], signature) == seats
    # three of four keystores signed: the fourth's seats are the non-signers, and the rest must hold 2/3 of stake
    three = [s for p in parts[:3] for s in qc.attestation_seats(p, board.size)]
    out = qc.non_signers(board, addresses, three)
    partial = bls.aggregate([p.signature for p in parts[:3]])
    signed = qc.signed_stake(board, three)
    if signed * 3 >= sum(board.stakes) * 2:
        assert sorted(qc.verify_stake_certificate(board, addresses, message, out, partial)) == sorted(three)
    else:
        with pytest.raises(InvalidCertificate, match="below 2/3"):
            qc.verify_stake_certificate(board, addresses, message, out, partial)
    with pytest.raises(InvalidCertificate, match="does not verify"):  # a non-signer left unnamed
        qc.verify_stake_certificate(board, addresses, message, out[1:], partial)
    with pytest.raises(InvalidCertificate, match="ascending"):
        qc.verify_stake_certificate(board, addresses, message, out[::-1], partial)
    # the contract hashes the plain signing root to G2 (RFC 9380, the POP DST): an independent implementation agrees
    message = qc.batch_signing_root(batch.batch_id, batch.root, CHAIN_ID)
    one = registry.secrets[board.members[0]]
    assert PyEcc.Verify(board.pubkeys[0], message, bls.sign(one, message))
    with pytest.raises(InvalidCertificate):
        qc.verify_batch_signature(board, batch.batch_id, b"\x00" * 32, CHAIN_ID, signers, signature)
    with pytest.raises(InvalidCertificate):  # a third of the committee is not enough
        qc.verify_batch_signature(
            board, batch.batch_id, batch.root, CHAIN_ID, parts[0].signers, bls.aggregate([parts[0].signature])
        )


def test_batch_checks_reject_bad_receipts(registry: Registry, finalized) -> None:
    quorums = Quorums(Validators(registry).sets)

    def check(receipts, batch=None) -> str:
        finding = check_batch(batch or batch_of(receipts), receipts, quorums, models(), root_of, DEVNET_DEPLOYMENT)
        assert finding is not None
        return finding.reason

    assert "twice" in check([finalized[0], finalized[0]])
    tampered = types_pb2.FinalizedReceipt()
    tampered.CopyFrom(finalized[1])
    tampered.certificate.signers = bytes(32)
    assert "receipt 0" in check([tampered])
    other = types_pb2.FinalizedReceipt()
    other.CopyFrom(finalized[2])
    other.receipt.fee = "1"
    assert "another request or receipt" in check([other])
    unsigned = types_pb2.FinalizedReceipt()
    unsigned.CopyFrom(finalized[2])
    unsigned.request.fee_cap = str(10**18)  # the request the receipt travels with is not what the client signed
    assert "request signature" in check([unsigned])
    wrong_root = batch_of(finalized)
    wrong_root.root = b"\x01" * 32
    assert "root" in check(finalized, wrong_root)


def test_batch_committee_certifies_an_optimistic_batch_of_these_receipts(registry: Registry, finalized) -> None:
    quorums = Quorums(Validators(registry).sets)
    operator = b"\x0a" * 20
    root = optimistic_root(quorums.params, lambda r: operator)
    batch = types_pb2.Batch(batch_id=(7).to_bytes(32, "big"), root=root(finalized), count=len(finalized))
    assert check_batch(batch, finalized, quorums, models(), root, DEVNET_DEPLOYMENT) is None
    debits = [batches.debit_of(f, operator) for f in finalized]
    built = batches.build(7, debits, quorums.params.operator_fee_share_bps)
    assert built.header.hash() == batch.root
    # the clients' real signatures verify as OptimisticSettlement checks them: no provable fault
    assert batches.find_fault(built, CHAIN_ID, DEVNET_DEPLOYMENT.settlement) is None
    # crediting another operator is another root: the committee refuses it
    elsewhere = optimistic_root(quorums.params, lambda r: b"\x0b" * 20)
    finding = check_batch(batch, finalized, quorums, models(), elsewhere, DEVNET_DEPLOYMENT)
    assert finding is not None and "root" in finding.reason


@pytest.mark.slow
def test_py_ecc_verifies_the_whole_batch_aggregate(registry: Registry, finalized) -> None:
    batch = batch_of(finalized)
    board = Committee.live(registry.validators, SNAPSHOT_BLOCK)
    parts = [sign_batch(ks, board, batch, CHAIN_ID) for ks in Validators(registry).keystores(4)]
    message = qc.batch_signing_root(batch.batch_id, batch.root, CHAIN_ID)
    assert PyEcc.FastAggregateVerify(list(board.pubkeys), message, bls.aggregate([p.signature for p in parts]))


def test_batch_reference_block_is_the_newest_rebuild_block() -> None:
    assert qc.batch_reference_block(100, [32, 48], 16) == 96  # validators have every rebuild block's snapshot
    assert qc.batch_reference_block(96, [], 16) == 96
    assert qc.batch_reference_block(100, [112], 16) == 112  # never older than the batch's newest receipt snapshot
