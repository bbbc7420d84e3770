"""Receipt hashing (EIP-712, not protobuf bytes) and node signatures."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from ax0n.spec import receipt
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.request import InvalidSignature
from ax0n.v1 import types_pb2

KEY = "0x" + "42" * 32


def _receipt() -> types_pb2.Receipt:
    return types_pb2.Receipt(
        request_id=b"\x01" * 32,
        model_id="tiny",
        model_commitment=b"\x02" * 32,
        tier=types_pb2.TIER_LLM,
        input_hash=b"\x03" * 32,
        output_hash=receipt.output_hash("hello"),
        fingerprint=types_pb2.Fingerprint(chunk_tokens=32, top_k=128, chunks=[b"a" * 278], encoding="x"),
        reference=types_pb2.ReferenceConfig(torch_version="2.13.0", dtype="float32", threads=1, kv_cache=True),
        timings=types_pb2.Timings(total_ms=5, output_tokens=3),
        fee="123",
        fee_cap="1000",
        client=b"\x05" * 20,
        output_token_ids=[1, 2, 3],
        chain_id=31337,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )


def test_sign_and_verify() -> None:
    signed = receipt.sign(_receipt(), KEY)
    assert bytes(signed.node_id) == bytes.fromhex(Account.from_key(KEY).address[2:])
    assert len(signed.signature) == 65
    receipt.verify(signed)
    # The digest is the standard EIP-712 one, as any wallet computes it.
    assert Account.recover_message(
        encode_typed_data(full_message=receipt.typed_data(signed)), signature=signed.signature
    )


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: setattr(r, "fee", "124"),
        lambda r: r.output_token_ids.append(4),
        lambda r: r.fingerprint.chunks.append(b"b"),
        lambda r: setattr(r.reference, "threads", 2),
        lambda r: setattr(r, "chain_id", 1),
        lambda r: setattr(r, "model_commitment", b"\x09" * 32),
        lambda r: setattr(r.timings, "total_ms", 6),
    ],
)
def test_any_change_breaks_the_signature(tamper) -> None:
    signed = receipt.sign(_receipt(), KEY)
    tamper(signed)
    with pytest.raises(InvalidSignature):
        receipt.verify(signed)


def test_hash_does_not_depend_on_protobuf_bytes() -> None:
    r = _receipt()
    h = receipt.receipt_hash(r)
    r2 = types_pb2.Receipt()
    r2.ParseFromString(r.SerializeToString() + b"\xf8\x07\x01")  # an unknown field 127 from a newer encoder
    assert r2.SerializeToString() != r.SerializeToString()
    assert receipt.receipt_hash(r2) == h
    r3 = types_pb2.Receipt()
    r3.CopyFrom(r)
    r3.signature = b"\x00" * 65  # the signature is not covered
    assert receipt.receipt_hash(r3) == h


def test_malformed_fields_and_signatures() -> None:
    r = _receipt()
    r.request_id = b"\x01" * 31
    with pytest.raises(ValueError, match="request_id must be 32 bytes"):
        receipt.receipt_hash(r)
    r = _receipt()
    r.fee = "lots"
    with pytest.raises(ValueError, match="not a decimal amount"):
        receipt.receipt_hash(r)
    r = _receipt()
    r.signature = b"\x00" * 10
    with pytest.raises(InvalidSignature, match="65 bytes"):
        receipt.verify(r)
