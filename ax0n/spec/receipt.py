"""Execution receipts: canonical hashing (EIP-712) and the executor node's secp256k1 signature.

A receipt is hashed as EIP-712 typed data, not as protobuf bytes (protobuf serialization is not
canonical: field order, default values and unknown fields may vary between encoders). The domain is
the request's (`ax0n`, version `1`, `chainId` = receipt.chain_id, `verifyingContract` = receipt.settlement) and the primary type is `Receipt`
below; every field but the signature is covered, nested messages as nested structs, fee amounts as
uint256 and variable bytes as `bytes`. EIP-712 makes the hash reproducible by any wallet library and
by a contract (a slashing contract can `ecrecover` a receipt: two receipts signed for one request id
are equivocation).

    receipt_hash = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(Receipt))
    signature    = secp256k1 sign(receipt_hash) by the node key, 65 bytes r ‖ s ‖ v
    node_id      = the node key's 20-byte address (checked by `verify`)
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak

from ax0n.spec.request import InvalidSignature, _recover_digest, domain
from ax0n.v1 import types_pb2

TYPES: dict[str, list[dict[str, str]]] = {
    "Receipt": [
        {"name": "requestId", "type": "bytes32"},
        {"name": "modelId", "type": "string"},
        {"name": "modelCommitment", "type": "bytes32"},
        {"name": "tier", "type": "uint8"},
        {"name": "inputHash", "type": "bytes32"},
        {"name": "outputHash", "type": "bytes32"},
        {"name": "fingerprint", "type": "Fingerprint"},
        {"name": "reference", "type": "ReferenceConfig"},
        {"name": "nodeId", "type": "address"},
        {"name": "route", "type": "RouteDecision"},
        {"name": "timings", "type": "Timings"},
        {"name": "fee", "type": "uint256"},
        {"name": "client", "type": "address"},
        {"name": "feeCap", "type": "uint256"},
        {"name": "outputTokenIds", "type": "uint32[]"},
        {"name": "chainId", "type": "uint64"},
    ],
    "Fingerprint": [
        {"name": "chunkTokens", "type": "uint32"},
        {"name": "topK", "type": "uint32"},
        {"name": "chunks", "type": "bytes[]"},
        {"name": "encoding", "type": "string"},
    ],
    "ReferenceConfig": [
        {"name": "torchVersion", "type": "string"},
        {"name": "device", "type": "string"},
        {"name": "isa", "type": "string"},
        {"name": "dtype", "type": "string"},
        {"name": "threads", "type": "uint32"},
        {"name": "batchSize", "type": "uint32"},
        {"name": "kvCache", "type": "bool"},
    ],
    "RouteDecision": [
        {"name": "requestId", "type": "bytes"},
        {"name": "clusterId", "type": "string"},
        {"name": "nodeId", "type": "bytes"},
        {"name": "snapshotBlock", "type": "uint64"},
        {"name": "snapshotHash", "type": "bytes"},
    ],
    "Timings": [
        {"name": "queuedMs", "type": "uint64"},
        {"name": "firstTokenMs", "type": "uint64"},
        {"name": "totalMs", "type": "uint64"},
        {"name": "outputTokens", "type": "uint32"},
        {"name": "promptTokens", "type": "uint32"},
    ],
}


def _fixed(value: bytes, size: int, what: str) -> bytes:
    value = bytes(value)
    if len(value) != size:
        raise ValueError(f"receipt.{what} must be {size} bytes, got {len(value)}")
    return value


def _address(value: bytes, what: str) -> str:
    """A 20-byte address; empty means the zero address (unset)."""
    raw = bytes(value) or bytes(20)
    return "0x" + _fixed(raw, 20, what).hex()


def _amount(value: str, what: str) -> int:
    try:
        amount = int(value or "0")
    except ValueError as exc:
        raise ValueError(f"receipt.{what} is not a decimal amount: {value!r}") from exc
    if not 0 <= amount < 2**256:
        raise ValueError(f"receipt.{what} is out of uint256 range")
    return amount


def typed_data(r: types_pb2.Receipt) -> dict[str, Any]:
    """The EIP-712 document for receipt `r` (its signature excluded)."""
    f, ref, route, t = r.fingerprint, r.reference, r.route, r.timings
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            **TYPES,
        },
        "primaryType": "Receipt",
        "domain": domain(r.chain_id, r.settlement),
        "message": {
            "requestId": _fixed(r.request_id, 32, "request_id"),
            "modelId": r.model_id,
            "modelCommitment": _fixed(r.model_commitment, 32, "model_commitment"),
            "tier": int(r.tier),
            "inputHash": _fixed(r.input_hash, 32, "input_hash"),
            "outputHash": _fixed(r.output_hash, 32, "output_hash"),
            "fingerprint": {
                "chunkTokens": f.chunk_tokens,
                "topK": f.top_k,
                "chunks": [bytes(c) for c in f.chunks],
                "encoding": f.encoding,
            },
            "reference": {
                "torchVersion": ref.torch_version,
                "device": ref.device,
                "isa": ref.isa,
                "dtype": ref.dtype,
                "threads": ref.threads,
                "batchSize": ref.batch_size,
                "kvCache": ref.kv_cache,
            },
            "nodeId": _address(r.node_id, "node_id"),
            "route": {
                "requestId": bytes(route.request_id),
                "clusterId": route.cluster_id,
                "nodeId": bytes(route.node_id),
                "snapshotBlock": route.snapshot_block,
                "snapshotHash": bytes(route.snapshot_hash),
            },
            "timings": {
                "queuedMs": t.queued_ms,
                "firstTokenMs": t.first_token_ms,
                "totalMs": t.total_ms,
                "outputTokens": t.output_tokens,
                "promptTokens": t.prompt_tokens,
            },
            "fee": _amount(r.fee, "fee"),
            "client": _address(r.client, "client"),
            "feeCap": _amount(r.fee_cap, "fee_cap"),
            "outputTokenIds": list(r.output_token_ids),
            "chainId": r.chain_id,
        },
    }


def signable(r: types_pb2.Receipt) -> SignableMessage:
    return encode_typed_data(full_message=typed_data(r))


def receipt_hash(r: types_pb2.Receipt) -> bytes:
    """The 32-byte EIP-712 digest of `r`: what the node signs and what batches and attestations cite."""
    m = signable(r)
    return keccak(b"\x19" + m.version + m.header + m.body)


def output_hash(output: str) -> bytes:
    """keccak256 of the output text's UTF-8 bytes."""
    return keccak(output.encode("utf-8"))


def sign(r: types_pb2.Receipt, private_key: bytes | str) -> types_pb2.Receipt:
    """A copy of `r` with node_id set to the key's address and signed by it."""
    out = types_pb2.Receipt()
    out.CopyFrom(r)
    account = Account.from_key(private_key)
    out.node_id = bytes.fromhex(account.address[2:])
    out.ClearField("signature")
    out.signature = bytes(account.unsafe_sign_hash(receipt_hash(out)).signature)
    return out


def recover(r: types_pb2.Receipt) -> bytes:
    """The 20-byte address that signed `r`; raises InvalidSignature when it cannot be recovered."""
    return _recover_digest(bytes(r.signature), receipt_hash(r))


def verify(r: types_pb2.Receipt) -> None:
    """Raise InvalidSignature unless `r` is signed by the key of its node_id."""
    signer = recover(r)
    if signer != bytes(r.node_id):
        raise InvalidSignature(f"receipt signed by 0x{signer.hex()}, not by its node 0x{bytes(r.node_id).hex()}")
