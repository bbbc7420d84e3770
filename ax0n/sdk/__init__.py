"""The ax0n Python SDK: signed inference requests over the router's gRPC API, with local verification.

    from ax0n.sdk import Ax0nClient

    with Ax0nClient("127.0.0.1:50051", private_key=KEY) as client:
        result = client.infer(model="smollm2-135m", prompt="Hello")
        print(result.output, result.receipt.request_id.hex())
        for chunk in client.stream(model="smollm2-135m", prompt="Hello"):
            print(chunk.delta, end="")

See docs/sdk.md.
"""

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
from ax0n.sdk.registry import ChainRegistry
from ax0n.sdk.result import Chunk, InferenceResult
from ax0n.sdk.verify import ChainCheck, ValidatorSetSource, Verification, Verifier, static_validator_sets
from ax0n.spec.fees import base_fee

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
