"""The 288-byte proof envelope: the 256-byte Ethereum ABI encoding of a Groth16 proof (A, B, C) followed by
the 32-byte SHA-256 digest of the public inputs (each a 32-byte big-endian field element, concatenated).

Every function here returns a verdict instead of raising on malformed input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import groth16py

from ax0n.zk.poseidon import FIELD

PROOF_SIZE = 256
DIGEST_SIZE = 32
ENVELOPE_SIZE = PROOF_SIZE + DIGEST_SIZE  # params.proof_constant_size
# BN254 base field: every proof coordinate is below it.
BASE_FIELD = 0x30644E72E131A029B85045B68181585D97816A916871CA8D3C208C16D87CFD47


@dataclass(frozen=True, slots=True)
class Verdict:
    valid: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.valid


VALID = Verdict(True)


def public_inputs_digest(public_inputs: Sequence[int]) -> bytes:
    """sha256 of the public inputs as concatenated 32-byte big-endian words (Solidity: sha256(abi.encodePacked(inputs)))."""
    return hashlib.sha256(b"".join(int(v).to_bytes(32, "big") for v in public_inputs)).digest()


def encode(proof: bytes, public_inputs: Sequence[int]) -> bytes:
    """Wrap a 256-byte proof and its public inputs into the 288-byte envelope."""
    if len(proof) != PROOF_SIZE:
        raise ValueError(f"a Groth16 proof is {PROOF_SIZE} bytes, got {len(proof)}")
    return proof + public_inputs_digest(public_inputs)


@dataclass(frozen=True, slots=True)
class Decoded:
    proof: bytes
    digest: bytes

    def words(self) -> list[int]:
        """The 8 uint256 words: A.x, A.y, B.x (c1, c0), B.y (c1, c0), C.x, C.y."""
        return [int.from_bytes(self.proof[i : i + 32], "big") for i in range(0, PROOF_SIZE, 32)]

    def solidity_args(self) -> tuple[list[int], list[list[int]], list[int]]:
        """(a, b, c) as the generated verifier's `verifyProof(a, b, c, input)` takes them."""
        w = self.words()
        return [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]]


def decode(envelope: object) -> tuple[Decoded | None, Verdict]:
    """Split an envelope; (None, invalid verdict) when it is not 288 bytes of in-range coordinates."""
    if not isinstance(envelope, bytes | bytearray | memoryview):
        return None, Verdict(False, f"envelope must be bytes, got {type(envelope).__name__}")
    data = bytes(envelope)
    if len(data) != ENVELOPE_SIZE:
        return None, Verdict(False, f"envelope must be {ENVELOPE_SIZE} bytes, got {len(data)}")
    decoded = Decoded(data[:PROOF_SIZE], data[PROOF_SIZE:])
    if any(w >= BASE_FIELD for w in decoded.words()):
        return None, Verdict(False, "proof coordinate is not a base-field element")
    return decoded, VALID


def check_public_inputs(public_inputs: Sequence[int], expected_count: int) -> Verdict:
    if len(public_inputs) != expected_count:
        return Verdict(False, f"expected {expected_count} public inputs, got {len(public_inputs)}")
    for i, v in enumerate(public_inputs):
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < FIELD:
            return Verdict(False, f"public input {i} is not a field element")
    return VALID


def verify(verifier: groth16py.Verifier, n_public: int, envelope: object, public_inputs: Sequence[int]) -> Verdict:
    """Check the envelope's digest against `public_inputs`, then the Groth16 proof under `verifier`."""
    decoded, verdict = decode(envelope)
    if decoded is None:
        return verdict
    verdict = check_public_inputs(public_inputs, n_public)
    if not verdict:
        return verdict
    if decoded.digest != public_inputs_digest(public_inputs):
        return Verdict(False, "public-input digest does not match the public inputs")
    try:
        ok = verifier.verify(decoded.proof, list(public_inputs))
    except (groth16py.EncodingError, groth16py.VerificationError, ValueError, OverflowError) as exc:
        return Verdict(False, f"malformed proof: {exc}")
    return VALID if ok else Verdict(False, "pairing check failed")


def public_inputs_from_bytes(words: Sequence[bytes]) -> tuple[list[int] | None, Verdict]:
    """Decode `Proof.public_inputs` (32-byte big-endian words), never raising."""
    out = []
    for i, w in enumerate(words):
        if not isinstance(w, bytes) or len(w) != 32:
            return None, Verdict(False, f"public input {i} is not 32 bytes")
        out.append(int.from_bytes(w, "big"))
    return out, VALID
