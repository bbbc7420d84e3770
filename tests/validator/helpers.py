"""Helpers shared by the validator tests: a deterministic registry and signing shortcuts."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass

from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec.certificate import VALID, Committee
from ax0n.spec.committee import Validator
from ax0n.v1 import types_pb2

CHAIN_ID = 31_337
SNAPSHOT_BLOCK = 4_096
SNAPSHOT_HASH = hashlib.sha256(b"snapshot").digest()
REQUEST_ID = hashlib.sha256(b"request").digest()
RECEIPT_HASH = hashlib.sha256(b"receipt").digest()


@dataclass(frozen=True)
class Registry:
    validators: tuple[Validator, ...]
    secrets: tuple[bls.SecretKey, ...]


def make_registry(count: int, seed: int = 7) -> Registry:
    rnd = random.Random(seed)
    secrets = tuple(bls.keygen(hashlib.sha256(f"validator-{seed}-{i}".encode()).digest()) for i in range(count))
    validators = tuple(Validator(bls.public_key(sk), rnd.randint(32, 2_048) * 10**18) for sk in secrets)
    return Registry(validators, secrets)


def message(verdict: int = VALID, receipt_hash: bytes = RECEIPT_HASH) -> bytes:
    return qc.attestation_signing_root(REQUEST_ID, receipt_hash, verdict, SNAPSHOT_BLOCK, CHAIN_ID)


def sign_seats(registry: Registry, quorum: Committee, seats: Iterable[int], msg: bytes) -> dict[int, bytes]:
    return {s: bls.sign(registry.secrets[quorum.members[s]], msg) for s in seats}


def certify(
    quorum: Committee, signatures: dict[int, bytes], verdict: int = VALID
) -> types_pb2.QuorumCertificate | None:
    return qc.form_certificate(quorum, REQUEST_ID, RECEIPT_HASH, verdict, CHAIN_ID, signatures)
