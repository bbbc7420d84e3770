"""Precise errors for requests the executor cannot serve, each with its gRPC status code."""

from __future__ import annotations

import grpc


class ExecutorError(Exception):
    """A request the executor refuses; `code` is the gRPC status to answer with."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class InvalidRequest(ExecutorError):
    """A malformed request: empty prompt, bad max_tokens, text that is not UTF-8, bad sampling."""


class ContextOverflow(ExecutorError):
    """The prompt does not fit in the model's context window."""

    code = grpc.StatusCode.OUT_OF_RANGE


class UnknownModel(ExecutorError):
    """No registered model has this id."""

    code = grpc.StatusCode.NOT_FOUND


def check_utf8(text: str, what: str) -> None:
    """Raise InvalidRequest unless `text` encodes to UTF-8 (lone surrogates from bad bytes do not)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"{what} is not valid UTF-8 text (bad code point at offset {exc.start})") from exc
