"""BLS12-381 signatures in Ethereum's consensus ciphersuite (proof-of-possession scheme) via blspy.

Public keys are 48-byte compressed G1 points, signatures 96-byte compressed G2 points; messages are
hashed to G2 per RFC 9380 with `DST`. Keys are validated as in the IETF draft's KeyValidate (on the
curve, in the subgroup, not the identity). Deserialized public keys are cached: a validator checks the
same few thousand keys over and over, and parsing dominates a fast-aggregate-verify.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from blspy import G1Element, G2Element, PopSchemeMPL, PrivateKey

DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"  # the scheme's hash-to-G2 domain separation tag
POP_DST = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"  # for proofs of possession
PUBKEY_SIZE = G1Element.SIZE  # 48
SIGNATURE_SIZE = G2Element.SIZE  # 96
SECRET_KEY_SIZE = PrivateKey.PRIVATE_KEY_SIZE  # 32
_IDENTITY_G1 = bytes(G1Element())
_KEY_CACHE_SIZE = 65_536


class InvalidKey(ValueError):
    """Bytes that are not a valid public key (or secret key)."""


class InvalidSignature(ValueError):
    """Bytes that are not a valid signature point."""


SecretKey = PrivateKey


def keygen(ikm: bytes) -> SecretKey:
    """The IETF KeyGen secret key for input keying material `ikm` (at least 32 bytes of entropy)."""
    if len(ikm) < 32:
        raise InvalidKey("key material must be at least 32 bytes")
    return PopSchemeMPL.key_gen(ikm)


def secret_from_bytes(data: bytes) -> SecretKey:
    if len(data) != SECRET_KEY_SIZE:
        raise InvalidKey(f"secret key must be {SECRET_KEY_SIZE} bytes")
    try:
        return PrivateKey.from_bytes(data)
    except ValueError as exc:
        raise InvalidKey(str(exc)) from exc


def public_key(sk: SecretKey) -> bytes:
    return bytes(sk.get_g1())


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def _g1(pubkey: bytes) -> G1Element:
    if len(pubkey) != PUBKEY_SIZE or pubkey == _IDENTITY_G1:
        raise InvalidKey("public key must be a 48-byte compressed G1 point other than the identity")
    try:
        return G1Element.from_bytes(pubkey)  # checks curve and subgroup membership
    except ValueError as exc:
        raise InvalidKey(str(exc)) from exc


def _g2(signature: bytes) -> G2Element:
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    try:
        return G2Element.from_bytes(signature)
    except ValueError as exc:
        raise InvalidSignature(str(exc)) from exc


def key_validate(pubkey: bytes) -> bool:
    try:
        _g1(pubkey)
    except InvalidKey:
        return False
    return True


def signature_validate(signature: bytes) -> bool:
    """True when `signature` is a 96-byte compressed point of the G2 subgroup."""
    try:
        _g2(signature)
    except InvalidSignature:
        return False
    return True


def sign(sk: SecretKey, message: bytes) -> bytes:
    return bytes(PopSchemeMPL.sign(sk, message))


def sign_many(secrets: Sequence[SecretKey], message: bytes) -> bytes:
    """The aggregate of every key's signature on one message, with one signing: (Σ sk_i) · H(message)."""
    if not secrets:
        raise InvalidKey("no keys to sign with")
    return bytes(PopSchemeMPL.sign(PrivateKey.aggregate(list(secrets)), message))


def verify(pubkey: bytes, message: bytes, signature: bytes) -> bool:
    try:
        return PopSchemeMPL.verify(_g1(pubkey), message, _g2(signature))
    except (InvalidKey, InvalidSignature):
        return False


def prove_possession(sk: SecretKey) -> bytes:
    """Proof of possession: the key's signature over its own public key under POP_DST."""
    return bytes(PopSchemeMPL.pop_prove(sk))


def verify_possession(pubkey: bytes, proof: bytes) -> bool:
    try:
        return PopSchemeMPL.pop_verify(_g1(pubkey), _g2(proof))
    except (InvalidKey, InvalidSignature):
        return False


def aggregate(signatures: Sequence[bytes]) -> bytes:
    """Sum of signature points; raises InvalidSignature on malformed bytes or an empty list."""
    if not signatures:
        raise InvalidSignature("nothing to aggregate")
    return bytes(PopSchemeMPL.aggregate([_g2(s) for s in signatures]))


def fast_aggregate_verify(pubkeys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """One pairing check that every key in `pubkeys` signed `message` (keys must carry proofs of possession)."""
    if not pubkeys:
        return False
    try:
        return PopSchemeMPL.fast_aggregate_verify([_g1(pk) for pk in pubkeys], message, _g2(signature))
    except (InvalidKey, InvalidSignature):
        return False
