"""Why a request was refused: one gRPC status and one HTTP status per rejection class.

| check | gRPC status | HTTP |
|---|---|---|
| signature, prompt hash or request id do not verify | UNAUTHENTICATED | 401 |
| unknown API key | UNAUTHENTICATED | 401 |
| malformed request, prompt too large, max_tokens out of range, deadline too far ahead | INVALID_ARGUMENT | 400 |
| HTTP body larger than `--max-body-bytes` | INVALID_ARGUMENT | 413 |
| signed deadline already passed | FAILED_PRECONDITION | 400 |
| model unknown or inactive | NOT_FOUND | 404 |
| nonce already used (replay) | ALREADY_EXISTS | 409 |
| fee cap below the model's base fee, or escrow short of the fee cap | FAILED_PRECONDITION | 402 |
| cluster backlog past the bound | RESOURCE_EXHAUSTED | 429 + Retry-After |
| no eligible node serves the model, or no cluster picked it up | UNAVAILABLE | 503 |
| no tokens within max_latency_ms / no certificate by the deadline | DEADLINE_EXCEEDED | 504 |
| the executor refused the request (bad input for the model, context overflow) | its status: INVALID_ARGUMENT, OUT_OF_RANGE, NOT_FOUND, ... | 400, 404, else 502 |
"""

from __future__ import annotations

import grpc


class Rejection(Exception):
    """A refused request: the gRPC status, the HTTP status, a precise message, and an optional retry hint."""

    def __init__(self, code: grpc.StatusCode, http: int, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.code, self.http, self.message, self.retry_after_s = code, http, message, retry_after_s


def unauthenticated(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.UNAUTHENTICATED, 401, message)


def invalid(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.INVALID_ARGUMENT, 400, message)


def too_large(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.INVALID_ARGUMENT, 413, message)


def expired(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.FAILED_PRECONDITION, 400, message)


def not_found(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.NOT_FOUND, 404, message)


def replay(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.ALREADY_EXISTS, 409, message)


def payment(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.FAILED_PRECONDITION, 402, message)


def overloaded(message: str, retry_after_s: int) -> Rejection:
    return Rejection(grpc.StatusCode.RESOURCE_EXHAUSTED, 429, message, retry_after_s)


def unavailable(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.UNAVAILABLE, 503, message)


def timed_out(message: str) -> Rejection:
    return Rejection(grpc.StatusCode.DEADLINE_EXCEEDED, 504, message)


EXECUTOR_HTTP = {"INVALID_ARGUMENT": 400, "OUT_OF_RANGE": 400, "NOT_FOUND": 404}


def executor_refused(finish_reason: str) -> Rejection | None:
    """The executor's refusal carried by a final token chunk (`error: CODE: message`), or None."""
    if not finish_reason.startswith("error: "):
        return None
    name, _, message = finish_reason.removeprefix("error: ").partition(": ")
    code = grpc.StatusCode.__members__.get(name, grpc.StatusCode.INTERNAL)
    return Rejection(code, EXECUTOR_HTTP.get(code.name, 502), f"the executor refused the request: {message or name}")
