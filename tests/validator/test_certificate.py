"""Quorum certificates: a 256-seat quorum from 1,024 validators, one aggregate check, and every forgery rejected."""

from __future__ import annotations

import hashlib
import os

import pytest

from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import INVALID, Committee, InvalidCertificate
from ax0n.v1 import types_pb2

from .helpers import CHAIN_ID, RECEIPT_HASH, REQUEST_ID, SNAPSHOT_BLOCK, Registry, certify, message, sign_seats


@pytest.fixture(scope="module")
def all_signed(registry: Registry, quorum: Committee) -> dict[int, bytes]:
    return sign_seats(registry, quorum, range(quorum.size), message())


def test_a_256_seat_certificate_verifies_with_one_aggregate_check(
    registry: Registry, quorum: Committee, all_signed: dict[int, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(registry.validators) >= 1_000 and quorum.size == 256
    cert = certify(quorum, all_signed)
    assert cert is not None and cert.signed_weight == cert.total_weight == "256"
    calls = []
    real = bls.fast_aggregate_verify

    def counting(*args):
        calls.append(len(args[0]))
        return real(*args)

    monkeypatch.setattr(bls, "fast_aggregate_verify", counting)
    assert qc.verify_certificate(cert, quorum, CHAIN_ID) == list(range(256))
    assert calls == [256]
    assert qc.certificate_signers(cert, quorum, CHAIN_ID) == list(quorum.members)


def test_the_certificate_round_trips_through_protobuf(quorum: Committee, all_signed: dict[int, bytes]) -> None:
    cert = certify(quorum, all_signed)
    decoded = types_pb2.QuorumCertificate.FromString(cert.SerializeToString())
    assert qc.verify_certificate(decoded, quorum, CHAIN_ID) == list(range(256))


def test_quorum_threshold_is_two_thirds_of_seats(quorum: Committee, all_signed: dict[int, bytes]) -> None:
    assert certify(quorum, {s: all_signed[s] for s in range(170)}) is None  # 170 * 3 < 512
    cert = certify(quorum, {s: all_signed[s] for s in range(171)})
    assert cert is not None and cert.signed_weight == "171"


def test_missing_signature_is_rejected(quorum: Committee, all_signed: dict[int, bytes]) -> None:
    cert = certify(quorum, {s: all_signed[s] for s in range(200)})
    claimed = bytearray(cert.signers)
    claimed[200 // 8] |= 1 << (200 % 8)  # claims seat 200, whose signature is not in the aggregate
    cert.signers, cert.signed_weight = bytes(claimed), "201"
    with pytest.raises(InvalidCertificate):
        qc.verify_certificate(cert, quorum, CHAIN_ID)


def test_duplicate_signature_is_rejected(quorum: Committee, all_signed: dict[int, bytes]) -> None:
    seats = list(range(200))
    cert = certify(quorum, {s: all_signed[s] for s in seats})
    cert.aggregate_signature = bls.aggregate([all_signed[s] for s in seats] + [all_signed[0]])  # seat 0 twice
    with pytest.raises(InvalidCertificate):
        qc.verify_certificate(cert, quorum, CHAIN_ID)
    # seat 0's signature offered again for seat 1: it is not seat 1's key, so screening drops it
    screened = qc.screen_signatures(quorum, message(), {0: all_signed[0], 1: all_signed[0]})
    assert screened == {0: all_signed[0]}


def test_wrong_key_signature_is_rejected(registry: Registry, quorum: Committee, all_signed: dict[int, bytes]) -> None:
    outsider = next(i for i in range(len(registry.validators)) if i not in quorum.members)
    forged = dict(all_signed)
    forged[5] = bls.sign(registry.secrets[outsider], message())
    assert 5 not in qc.screen_signatures(quorum, message(), forged)
    bitmap, aggregate = qc.aggregate_seats(quorum, forged)
    with pytest.raises(InvalidCertificate):
        qc.verify_aggregate(quorum, message(), bitmap, aggregate)


def test_wrong_message_signature_is_rejected(
    registry: Registry, quorum: Committee, all_signed: dict[int, bytes]
) -> None:
    other = sign_seats(registry, quorum, [7], message(receipt_hash=b"\x66" * 32))
    forged = {**all_signed, 7: other[7]}
    assert 7 not in qc.screen_signatures(quorum, message(), forged)
    bitmap, aggregate = qc.aggregate_seats(quorum, forged)
    with pytest.raises(InvalidCertificate):
        qc.verify_aggregate(quorum, message(), bitmap, aggregate)
    # the verdict, chain and snapshot are part of the message too
    cert = certify(quorum, all_signed)
    for field, value in (("verdict", INVALID), ("receipt_hash", b"\x66" * 32), ("snapshot_block", SNAPSHOT_BLOCK + 1)):
        tampered = types_pb2.QuorumCertificate()
        tampered.CopyFrom(cert)
        setattr(tampered, field, value)
        with pytest.raises(InvalidCertificate):
            qc.verify_certificate(tampered, quorum, CHAIN_ID)
    with pytest.raises(InvalidCertificate):
        qc.verify_certificate(cert, quorum, CHAIN_ID + 1)


def test_malformed_certificates_are_rejected(quorum: Committee, all_signed: dict[int, bytes]) -> None:
    cert = certify(quorum, all_signed)
    for mutate in (
        lambda c: setattr(c, "signers", c.signers[:-1]),
        lambda c: setattr(c, "signers", c.signers + b"\x01"),
        lambda c: setattr(c, "signed_weight", "300"),
        lambda c: setattr(c, "total_weight", "999"),
        lambda c: setattr(c, "aggregate_signature", os.urandom(96)),
        lambda c: setattr(c, "aggregate_signature", b""),
        lambda c: setattr(c, "signers", bytes(32)),
    ):
        bad = types_pb2.QuorumCertificate()
        bad.CopyFrom(cert)
        mutate(bad)
        with pytest.raises(InvalidCertificate):
            qc.verify_certificate(bad, quorum, CHAIN_ID)
    small = Committee(quorum.snapshot_block, quorum.members[:10], quorum.pubkeys[:10])
    with pytest.raises(InvalidCertificate):  # bits past the committee
        qc.decode_bitmap(b"\xff\x07", small.size)


def test_bitmap_is_little_endian_by_seat() -> None:
    assert qc.encode_bitmap([0, 9], 10) == b"\x01\x02"
    assert qc.decode_bitmap(b"\x01\x02", 10) == [0, 9]


def test_signing_roots_are_plain_sha256() -> None:
    domain = b"AXBT" + hashlib.sha256(CHAIN_ID.to_bytes(32, "big")).digest()[:28]
    batch_id, root = b"\x0b" * 32, b"\x0c" * 32
    expected = hashlib.sha256(hashlib.sha256(batch_id + root).digest() + domain).digest()
    assert qc.batch_signing_root(batch_id, root, CHAIN_ID) == expected
    attestation = hashlib.sha256(REQUEST_ID + RECEIPT_HASH + b"\x01" + SNAPSHOT_BLOCK.to_bytes(8, "big")).digest()
    domain_at = b"AXAT" + domain[4:]
    assert message() == hashlib.sha256(attestation + domain_at).digest()
    assert qc.batch_signing_root(batch_id, root, CHAIN_ID) != qc.batch_signing_root(batch_id, root, 1)
