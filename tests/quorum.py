"""A test-side validator quorum: real BLS keys whose VALID certificates routers, settlers and SDKs verify as they
verify MeshSync's (ax0n.spec.finality), for the stand-ins that play executors and validators in unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.committee import Validator
from ax0n.spec.params import DEVNET, Params
from ax0n.v1 import types_pb2

TOKEN = 10**18
BLS_SECRETS = tuple(bls.keygen(hashlib.sha256(b"test-validator" + bytes([i])).digest()) for i in range(7))


def validator_set(secrets: Sequence[bls.SecretKey]) -> tuple[Validator, ...]:
    return tuple(Validator(bls.public_key(sk), (i + 1) * 1_000 * TOKEN) for i, sk in enumerate(secrets))


VALIDATORS = validator_set(BLS_SECRETS)


def validator_docs() -> list[dict[str, str]]:
    """VALIDATORS as a router registry file lists them."""
    return [{"pubkey": v.pubkey.hex(), "stake": str(v.stake)} for v in VALIDATORS]


def certify(
    r: types_pb2.Receipt,
    snapshot_hash: bytes,
    signers: int | None = None,
    secrets: Sequence[bls.SecretKey] = BLS_SECRETS,
    params: Params = DEVNET,
) -> types_pb2.QuorumCertificate:
    """A VALID certificate of `r` by the first `signers` seats (default: all) of its quorum, drawn from the validator
    set of `secrets` (default: VALIDATORS) at `r`'s route snapshot (block hash `snapshot_hash`)."""
    rid, rhash = bytes(r.request_id), receipts.receipt_hash(r)
    quorum, _ = qc.draw_request_quorum(
        validator_set(secrets), r.route.snapshot_block, snapshot_hash, rid, params.validator_quorum_size
    )
    message = qc.attestation_signing_root(rid, rhash, qc.VALID, quorum.snapshot_block, r.chain_id)
    by_key = {bls.public_key(sk): sk for sk in secrets}
    seats = range(quorum.size if signers is None else signers)
    signatures = {s: bls.sign(by_key[quorum.pubkeys[s]], message) for s in seats}
    cert = qc.form_certificate(quorum, rid, rhash, qc.VALID, r.chain_id, signatures, params)
    assert cert is not None, "below quorum"
    return cert
