"""EIP-712 signing, recovery and request ids, cross-checked against eth-account's own encoder."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from ax0n.spec import request
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.v1 import types_pb2

KEY = "0x" + "4c" * 32
OTHER = "0x" + "7e" * 32


def unsigned(**over: object) -> types_pb2.InferenceRequest:
    fields: dict[str, object] = dict(
        model_id="smollm2-135m",
        prompt="Say hi",
        max_tokens=16,
        max_latency_ms=5_000,
        fee_cap=str(3 * 10**18),
        nonce=7,
        deadline=2_000_000_000,
        chain_id=31337,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )
    fields.update(over)
    return types_pb2.InferenceRequest(**fields)


def test_sign_matches_eth_account_typed_data() -> None:
    req = request.sign(unsigned(), KEY)
    assert encode_typed_data(full_message=request.typed_data(req)) == request.signable(req)
    assert Account.sign_typed_data(KEY, full_message=request.typed_data(req)).signature == req.signature
    assert req.client == bytes.fromhex(Account.from_key(KEY).address[2:])
    request.verify(req)


@pytest.mark.parametrize(
    "field,value",
    [
        ("model_id", "other-model"),
        ("max_tokens", 17),
        ("max_latency_ms", 1),
        ("fee_cap", str(4 * 10**18)),
        ("nonce", 8),
        ("deadline", 2_000_000_001),
        ("chain_id", 1),
    ],
)
def test_any_signed_field_changed_fails(field: str, value: object) -> None:
    req = request.sign(unsigned(), KEY)
    setattr(req, field, value)
    with pytest.raises(request.InvalidSignature):
        request.verify(req)


def test_prompt_messages_and_sampling_are_covered_by_the_hash() -> None:
    base = request.sign(unsigned(), KEY)
    for change in (
        lambda r: setattr(r, "prompt", "Say bye"),
        lambda r: r.messages.add(role="user", content="x"),
        lambda r: setattr(r.sampling, "temperature", 0.7),
        lambda r: r.sampling.stop.append("\n"),
    ):
        req = types_pb2.InferenceRequest()
        req.CopyFrom(base)
        change(req)
        with pytest.raises(request.InvalidSignature, match="prompt_hash"):
            request.verify(req)


def test_wrong_signer_and_malformed_signature() -> None:
    req = request.sign(unsigned(), KEY)
    forged = request.sign(unsigned(), OTHER)
    req2 = types_pb2.InferenceRequest()
    req2.CopyFrom(req)
    req2.signature = forged.signature
    with pytest.raises(request.InvalidSignature, match="not by client"):
        request.verify(req2)
    req2.signature = b"\x01" * 10
    with pytest.raises(request.InvalidSignature, match="65 bytes"):
        request.verify(req2)
    req2.signature = b"\x00" * 65
    with pytest.raises(request.InvalidSignature):
        request.verify(req2)


def test_request_id_binds_the_signer() -> None:
    a, b = request.sign(unsigned(), KEY), request.sign(unsigned(), OTHER)
    assert request.digest(a) == request.digest(b)  # same typed data
    assert a.request_id != b.request_id
    assert len(a.request_id) == 32
    assert request.request_id(a) == a.request_id


def test_canonical_input_is_stable() -> None:
    req = unsigned(prompt="héllo")
    req.sampling.temperature = 0.5
    assert request.canonical_input(req) == (
        b'{"messages":[],"prompt":"h\xc3\xa9llo","sampling":{"greedy":false,"stop":[],'
        b'"temperature":"3f000000","top_k":0,"top_p":"00000000"}}'
    )
