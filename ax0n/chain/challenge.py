"""Challenge arguments for Settlement's challenges: a receipt and its route as EIP-712 encodeData words, and the
commitment a challenger makes a block before (Settlement.commitChallenge) so that the reward goes to the
beneficiary it names, whoever sends the challenge itself.

A contract cannot rebuild a receipt's nested EIP-712 structs cheaply, so the challenger passes
`encodeData(Receipt)` (RECEIPT_TYPEHASH followed by one 32-byte word per field: atomic values as is, dynamic
values and nested structs as their hashes) and `encodeData(RouteDecision)`; Settlement hashes them into
`ax0n.spec.receipt.receipt_hash` and reads the fields it needs (model commitment, input and output hash, node id,
the routing snapshot block, chain id) from fixed positions.
"""

from __future__ import annotations

# eth-account is pinned (==0.14.0); encode_data is the EIP-712 encodeData its own hashing uses.
from eth_abi import encode as abi_encode
from eth_account._utils.encode_typed_data.encoding_and_hashing import encode_data
from eth_utils import keccak, to_checksum_address

from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2


def commitment(key: bytes, beneficiary: str) -> bytes:
    """Settlement.challengeCommitment(key, beneficiary): keccak256(abi.encode(key, beneficiary)), `key` being what
    the challenge slashes once (the receipt digest, or keccak256(abi.encode(operator, requestId)) for an
    equivocation)."""
    return keccak(abi_encode(["bytes32", "address"], [key, to_checksum_address(beneficiary)]))


def _words(data: bytes) -> list[bytes]:
    return [data[i : i + 32] for i in range(0, len(data), 32)]


def receipt_words(r: types_pb2.Receipt) -> list[bytes]:
    """The 17 encodeData words of `r` (type hash + 16 fields)."""
    doc = receipts.typed_data(r)
    return _words(encode_data("Receipt", doc["types"], doc["message"]))


def route_words(r: types_pb2.Receipt) -> list[bytes]:
    """The 6 encodeData words of `r.route` (type hash + 5 fields)."""
    doc = receipts.typed_data(r)
    return _words(encode_data("RouteDecision", doc["types"], doc["message"]["route"]))
