"""Typed SDK exceptions: one class per router rejection class, carrying the router's own message.

| gRPC status | exception | typical cause |
|---|---|---|
| UNAUTHENTICATED | `AuthenticationError` | signature, prompt hash or request id does not verify |
| INVALID_ARGUMENT | `InvalidRequestError` | malformed request, prompt too large, max_tokens out of range |
| FAILED_PRECONDITION | `PreconditionError` | deadline passed, fee cap below the base fee, escrow short |
| NOT_FOUND | `NotFoundError` | model unknown or inactive; no result for a request id |
| ALREADY_EXISTS | `ReplayError` | nonce or request already used |
| RESOURCE_EXHAUSTED | `OverloadedError` | cluster backlog full (`retry_after_s` from the router) |
| UNAVAILABLE | `UnavailableError` | no eligible node, or the router cannot be reached |
| DEADLINE_EXCEEDED | `Ax0nTimeoutError` | no output within max_latency_ms, no certificate by the deadline |
| anything else | `Ax0nError` | |
"""

from __future__ import annotations

import grpc


class Ax0nError(Exception):
    """Any failure the SDK reports; `code` is the gRPC status name when the router refused the call."""

    def __init__(self, message: str, code: str = "", retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.retry_after_s = message, code, retry_after_s


class AuthenticationError(Ax0nError):
    pass


class InvalidRequestError(Ax0nError):
    pass


class PreconditionError(Ax0nError):
    pass


class NotFoundError(Ax0nError):
    pass


class ReplayError(Ax0nError):
    pass


class OverloadedError(Ax0nError):
    pass


class UnavailableError(Ax0nError):
    pass


class Ax0nTimeoutError(Ax0nError, TimeoutError):
    pass


class VerificationError(Ax0nError):
    """`verify=True` found evidence that does not prove what it claims (the message says which check failed)."""


BY_STATUS: dict[grpc.StatusCode, type[Ax0nError]] = {
    grpc.StatusCode.UNAUTHENTICATED: AuthenticationError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequestError,
    grpc.StatusCode.FAILED_PRECONDITION: PreconditionError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: ReplayError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: OverloadedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: Ax0nTimeoutError,
}


def from_rpc_error(err: grpc.aio.AioRpcError) -> Ax0nError:
    """The typed exception for a failed router call, with the router's message and retry hint."""
    code = err.code()
    retry = None
    for key, value in err.trailing_metadata() or ():
        if key == "retry-after":
            retry = int(value)
    cls = BY_STATUS.get(code, Ax0nError)
    return cls(err.details() or code.name, code.name, retry)
