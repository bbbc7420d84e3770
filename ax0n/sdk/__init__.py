"""The ax0n Python SDK: signed inference requests over the router's gRPC API, with local verification.

    from ax0n.sdk import Ax0nClient

    with Ax0nClient("127.0.0.1:50051", private_key=KEY) as client:
        result = client.infer(model="smollm2-135m", prompt="Hello")
        print(result.output, result.receipt.request_id.hex())
        for chunk in client.stream(model="smollm2-135m", prompt="Hello"):
            print(chunk.delta, end="")

See docs/sdk.md. Verification (`Verifier`, `ChainCheck`, `ChainRegistry`, ...) needs the `verify` extra
(`pip install 'ax0n[verify]'`: BLS, Groth16, web3); those names are imported on first use, so the client alone
stays light.
"""

from typing import Any

from ax0n.sdk.client import AsyncAx0nClient, Ax0nClient, ResultStream, SyncResultStream
from ax0n.sdk.errors import (
    AuthenticationError,
    Ax0nError,
    Ax0nTimeoutError,
    InvalidRequestError,
    NotFoundError,
    OverloadedError,
    PreconditionError,
    ReplayError,
    UnavailableError,
    VerificationError,
)
from ax0n.sdk.result import Chunk, InferenceResult
from ax0n.spec.fees import base_fee

_VERIFY = {
    "ChainCheck": "ax0n.sdk.verify",
    "ValidatorSetSource": "ax0n.sdk.verify",
    "Verification": "ax0n.sdk.verify",
    "Verifier": "ax0n.sdk.verify",
    "static_validator_sets": "ax0n.sdk.verify",
    "ChainRegistry": "ax0n.sdk.registry",
}


def __getattr__(name: str) -> Any:
    """The verification names, imported when first used (they need the `verify` extra)."""
    if name not in _VERIFY:
        raise AttributeError(f"module 'ax0n.sdk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_VERIFY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "AsyncAx0nClient",
    "AuthenticationError",
    "Ax0nClient",
    "Ax0nError",
    "Ax0nTimeoutError",
    "ChainCheck",
    "ChainRegistry",
    "Chunk",
    "InferenceResult",
    "InvalidRequestError",
    "NotFoundError",
    "OverloadedError",
    "PreconditionError",
    "ReplayError",
    "ResultStream",
    "SyncResultStream",
    "UnavailableError",
    "ValidatorSetSource",
    "Verification",
    "VerificationError",
    "Verifier",
    "base_fee",
    "static_validator_sets",
]
