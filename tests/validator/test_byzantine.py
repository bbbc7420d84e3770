"""Byzantine quorums: liveness with up to 85 of 256 faulty seats, safety and accountability above that."""

from __future__ import annotations

import os
import random

import pytest

from ax0n.spec import bls, committee
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import INVALID, VALID, Committee
from ax0n.v1 import types_pb2

from .helpers import (
    CHAIN_ID,
    RECEIPT_HASH,
    REQUEST_ID,
    SNAPSHOT_BLOCK,
    SNAPSHOT_HASH,
    Registry,
    certify,
    message,
    sign_seats,
)


def garbage(registry: Registry, quorum: Committee, seat: int, kind: int) -> bytes:
    sk = registry.secrets[quorum.members[seat]]
    if kind == 0:
        return os.urandom(96)  # not a point
    if kind == 1:
        return bls.sign(sk, os.urandom(32))  # a real signature over something else
    if kind == 2:
        return bls.sign(registry.secrets[(quorum.members[seat] + 1) % len(registry.secrets)], message())  # wrong key
    return bls.sign(sk, message(INVALID))  # the opposite verdict


@pytest.mark.parametrize("silent", [85, 40, 0])
def test_a_valid_receipt_finalizes_with_85_faulty_seats(registry: Registry, quorum: Committee, silent: int) -> None:
    faulty = random.Random(silent).sample(range(256), 85)
    honest = [s for s in range(256) if s not in faulty]
    received = sign_seats(registry, quorum, honest, message())
    received.update({s: garbage(registry, quorum, s, k % 4) for k, s in enumerate(faulty[silent:])})
    accepted = qc.screen_signatures(quorum, message(), received)
    assert sorted(accepted) == honest
    cert = certify(quorum, accepted)
    assert cert is not None
    assert qc.verify_certificate(cert, quorum, CHAIN_ID) == honest


def test_86_faulty_seats_stall_a_certificate(registry: Registry, quorum: Committee) -> None:
    received = sign_seats(registry, quorum, range(170), message())
    assert certify(quorum, qc.screen_signatures(quorum, message(), received)) is None


def test_an_invalid_receipt_does_not_finalize_below_two_thirds(registry: Registry, quorum: Committee) -> None:
    # 170 byzantine seats sign VALID on an invalid receipt; 86 honest ones sign INVALID.
    byzantine = random.Random(1).sample(range(256), 170)
    honest = [s for s in range(256) if s not in byzantine]
    valid_votes = qc.screen_signatures(quorum, message(VALID), sign_seats(registry, quorum, byzantine, message(VALID)))
    assert certify(quorum, valid_votes, VALID) is None
    invalid_votes = qc.screen_signatures(
        quorum, message(INVALID), sign_seats(registry, quorum, honest, message(INVALID))
    )
    assert certify(quorum, invalid_votes, INVALID) is None


def test_a_supermajority_rejection_becomes_a_fault_record(registry: Registry, quorum: Committee) -> None:
    votes = sign_seats(registry, quorum, range(200), message(INVALID))
    cert = certify(quorum, qc.screen_signatures(quorum, message(INVALID), votes), INVALID)
    assert cert is not None
    record = qc.fault_record(types_pb2.Receipt(request_id=REQUEST_ID), cert, "zk proof does not verify")
    assert qc.verify_certificate(record.certificate, quorum, CHAIN_ID) == list(range(200))
    with pytest.raises(ValueError):
        qc.fault_record(types_pb2.Receipt(), certify(quorum, sign_seats(registry, quorum, range(200), message())), "")


def test_a_byzantine_supermajority_is_identified_from_the_certificate_alone(
    registry: Registry, quorum: Committee
) -> None:
    byzantine = sorted(random.Random(2).sample(range(256), 180))
    cert = certify(quorum, sign_seats(registry, quorum, byzantine, message(VALID)), VALID)
    assert cert is not None and cert.receipt_hash == RECEIPT_HASH  # it finalizes: more than 2/3 signed
    # anyone holding the certificate and the public registry recomputes the committee and names the signers
    members = committee.request_quorum(registry.validators, SNAPSHOT_HASH, cert.request_id, 256)
    recomputed = Committee.draw(registry.validators, members, cert.snapshot_block)
    signers = qc.certificate_signers(cert, recomputed, CHAIN_ID)
    assert signers == [quorum.members[s] for s in byzantine]
    assert cert.snapshot_block == SNAPSHOT_BLOCK
