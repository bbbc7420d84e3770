"""Receipts for prover tests."""

from __future__ import annotations

import random

from ax0n.spec import settlement
from ax0n.v1 import types_pb2
from ax0n.zk.mlp import QuantizedMLP, input_hash, output_hash
from ax0n.zk.poseidon import to_bytes32
from tests.clients import answering, signed_request


def executed(model: QuantizedMLP, x: list[int]) -> types_pb2.ExecutedReceipt:
    """An (unsigned) zk-tier receipt of `model` on `x`, answering a client-signed request."""
    p = model.forward(x)
    request = signed_request("mlp-devnet", str(x), nonce=sum(x) & 0xFFFF)
    receipt = types_pb2.Receipt(
        model_commitment=model.commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=to_bytes32(input_hash(x)),
        output_hash=to_bytes32(output_hash(p)),
    )
    return types_pb2.ExecutedReceipt(receipt=answering(receipt, request), request=request, output=p.to_json())


def llm_executed(output: str = "hi") -> types_pb2.ExecutedReceipt:
    """An (unsigned) LLM-tier receipt answering a client-signed request: the prover forwards these unproven."""
    request = signed_request("tiny-llm", "hello", nonce=2)
    receipt = answering(types_pb2.Receipt(tier=types_pb2.TIER_LLM), request)
    return types_pb2.ExecutedReceipt(receipt=receipt, request=request, output=output)


def random_leaves(n: int, seed: int) -> list[settlement.Leaf]:
    rng = random.Random(seed)
    operators = [rng.randbytes(20) for _ in range(3)]
    leaves = []
    for _ in range(n):
        cap = rng.randrange(1, 10**18)
        leaves.append(
            settlement.Leaf(
                rng.randbytes(32),
                rng.randbytes(32),
                rng.choice(operators),
                rng.randbytes(20),
                rng.randrange(cap + 1),
                cap,
            )
        )
    return leaves
