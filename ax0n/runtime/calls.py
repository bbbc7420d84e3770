"""gRPC plumbing of signed calls (ax0n.spec.calls): the server's check and the client's metadata."""

from __future__ import annotations

import time

import grpc
from google.protobuf.message import Message

from ax0n.spec import calls


async def require_caller(
    context: grpc.aio.ServicerContext, method: str, request: Message, allowed: frozenset[bytes]
) -> bytes:
    """The allowed caller that signed this call, or abort: UNAUTHENTICATED when the call is unsigned or signed
    wrong, PERMISSION_DENIED when its signer is not allowed here."""
    if not allowed:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, f"{method}: no callers are allowed (--allowed-callers)")
    try:
        return calls.caller_of(context.invocation_metadata() or (), method, request, allowed, int(time.time() * 1000))
    except calls.CallerNotAllowed as exc:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
    except calls.CallRefused as exc:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
    raise AssertionError("unreachable: abort raises")


def signed(private_key: str | bytes, method: str, request: Message) -> tuple[tuple[str, str | bytes], ...]:
    """Metadata signing this call now with `private_key`."""
    return calls.sign_call(private_key, method, request, int(time.time() * 1000))
