"""Signed calls: how a caller of a compute-costly RPC (Reexecute, SignBatch, SignFault) proves who it is.

The caller signs, with its secp256k1 key,

    call_digest = keccak256("ax0n/call/v1" ‖ method ‖ keccak256(request) ‖ uint64 signed_ms)

where `request` is the call's protobuf message in deterministic encoding, and sends `signed_ms` and the 65-byte
signature as gRPC metadata. The server recovers the address, refuses it unless it is one of the callers its
operator allows, and refuses a `signed_ms` more than `max_skew_ms` from its clock. A replay within that window
repeats the same call for the same caller: it can make no one do work for a request nobody allowed asked.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_account import Account
from eth_utils import keccak
from google.protobuf.message import Message

from ax0n.spec.request import InvalidSignature, _recover_digest

DOMAIN = b"ax0n/call/v1"
MS_KEY, SIGNATURE_KEY = "ax0n-call-ms", "ax0n-call-signature-bin"
MAX_SKEW_MS = 30_000


class CallRefused(ValueError):
    """The call is not signed, signed wrong, or signed too far from now."""


class CallerNotAllowed(CallRefused):
    """The call is signed, by a caller this server does not allow."""


def call_digest(method: str, request: Message, signed_ms: int) -> bytes:
    body = keccak(request.SerializeToString(deterministic=True))
    return keccak(DOMAIN + method.encode() + body + signed_ms.to_bytes(8, "big"))


def sign_call(
    private_key: str | bytes, method: str, request: Message, now_ms: int
) -> tuple[tuple[str, str | bytes], ...]:
    """The metadata that proves `private_key`'s address makes this call."""
    signature = Account.from_key(private_key).unsafe_sign_hash(call_digest(method, request, now_ms)).signature
    return (MS_KEY, str(now_ms)), (SIGNATURE_KEY, bytes(signature))


def caller_of(
    metadata: Iterable[tuple[str, str | bytes]],
    method: str,
    request: Message,
    allowed: frozenset[bytes],
    now_ms: int,
    max_skew_ms: int = MAX_SKEW_MS,
) -> bytes:
    """The allowed 20-byte address that signed this call; raises CallRefused with what is wrong."""
    fields = dict(metadata)
    ms, signature = fields.get(MS_KEY), fields.get(SIGNATURE_KEY)
    if not isinstance(ms, str) or not ms.isdigit() or not isinstance(signature, bytes):
        raise CallRefused(f"{method} needs a signed call ({MS_KEY}, {SIGNATURE_KEY}): see ax0n.spec.calls")
    if abs(int(ms) - now_ms) > max_skew_ms:
        raise CallRefused(f"call signed at {ms} ms, more than {max_skew_ms} ms from this server's clock")
    try:
        caller = _recover_digest(signature, call_digest(method, request, int(ms)))
    except InvalidSignature as exc:
        raise CallRefused(f"call signature: {exc}") from exc
    if caller not in allowed:
        raise CallerNotAllowed(f"caller 0x{caller.hex()} is not allowed to call {method} here")
    return caller


def addresses(text: str) -> frozenset[bytes]:
    """Comma-separated 0x addresses, as settings give them."""
    out = set()
    for item in filter(None, (part.strip() for part in text.split(","))):
        raw = bytes.fromhex(item.removeprefix("0x"))
        if len(raw) != 20:
            raise ValueError(f"not a 20-byte address: {item!r}")
        out.add(raw)
    return frozenset(out)
