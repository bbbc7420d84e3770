"""ax0n.spec.bls against py_ecc's independent implementation of the same ciphersuite."""

from __future__ import annotations

import pytest
from py_ecc.bls import G2ProofOfPossession as PyEcc

from ax0n.spec import bls


@pytest.fixture(scope="module")
def keys() -> list[bls.SecretKey]:
    return [bls.keygen(bytes([i]) * 32) for i in range(1, 4)]


def test_dst_is_ethereums() -> None:
    assert bls.DST == PyEcc.DST
    assert bls.POP_DST == PyEcc.POP_TAG


def test_keys_and_signatures_match_py_ecc(keys: list[bls.SecretKey]) -> None:
    message = b"\x11" * 32
    for sk in keys:
        secret = int.from_bytes(bytes(sk), "big")
        assert bls.public_key(sk) == PyEcc.SkToPk(secret)
        assert bls.sign(sk, message) == PyEcc.Sign(secret, message)
        assert bls.prove_possession(sk) == PyEcc.PopProve(secret)
    assert PyEcc.PopVerify(bls.public_key(keys[0]), bls.prove_possession(keys[0]))
    signatures = [bls.sign(sk, message) for sk in keys]
    aggregate = bls.aggregate(signatures)
    assert aggregate == PyEcc.Aggregate(signatures)
    pubkeys = [bls.public_key(sk) for sk in keys]
    assert bls.fast_aggregate_verify(pubkeys, message, aggregate)
    assert PyEcc.FastAggregateVerify(pubkeys, message, aggregate)


def test_py_ecc_signatures_verify_here(keys: list[bls.SecretKey]) -> None:
    secret = int.from_bytes(bytes(keys[0]), "big")
    signature = PyEcc.Sign(secret, b"from py_ecc")
    assert bls.verify(PyEcc.SkToPk(secret), b"from py_ecc", signature)
    assert not bls.verify(PyEcc.SkToPk(secret), b"from py_ecc!", signature)


def test_rejects_bad_keys_and_signatures(keys: list[bls.SecretKey]) -> None:
    sk = keys[0]
    pk, sig = bls.public_key(sk), bls.sign(sk, b"m")
    identity = bytes([0xC0]) + bytes(47)
    assert not bls.key_validate(identity)
    assert not bls.key_validate(b"\xaa" * 48)
    assert not bls.key_validate(pk[:47])
    assert not bls.verify(identity, b"m", sig)
    assert not bls.verify(pk, b"m", b"\x01" * 96)
    assert not bls.verify(pk, b"m", sig[:95])
    assert not bls.signature_validate(b"\x01" * 96)
    assert not bls.fast_aggregate_verify([], b"m", sig)
    assert not bls.verify_possession(bls.public_key(keys[1]), bls.prove_possession(sk))
    assert bls.verify_possession(pk, bls.prove_possession(sk))
    with pytest.raises(bls.InvalidSignature):
        bls.aggregate([sig, b"\x01" * 96])
    with pytest.raises(bls.InvalidKey):
        bls.keygen(b"short")


def test_a_signature_over_the_message_is_not_a_proof_of_possession(keys: list[bls.SecretKey]) -> None:
    sk = keys[0]
    pk = bls.public_key(sk)
    assert not bls.verify_possession(pk, bls.sign(sk, pk))  # PoP uses its own DST


def test_signing_with_many_keys_at_once_is_their_aggregate(keys: list[bls.SecretKey]) -> None:
    message = b"\x22" * 32
    expected = bls.aggregate([bls.sign(sk, message) for sk in keys])
    assert bls.sign_many(keys, message) == expected
    assert bls.fast_aggregate_verify([bls.public_key(sk) for sk in keys], message, expected)
    assert bls.sign_many(keys[:1], message) == bls.sign(keys[0], message)
    with pytest.raises(bls.InvalidKey):
        bls.sign_many([], message)
