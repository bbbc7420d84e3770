"""Client-signed requests for tests, and receipts that answer them (ax0n.spec.answers checks both everywhere)."""

from __future__ import annotations

from eth_account import Account

from ax0n.spec import request as requests
from ax0n.spec.answers import DEVNET
from ax0n.v1 import types_pb2

CLIENT_KEY = "0x" + "c1" * 32
FAR_DEADLINE = 4_102_444_800  # 2100-01-01
CALLER_KEY = "0x" + "ca" * 32  # a settler's or validator's account: signs its costly calls (ax0n.spec.calls)
CALLER = Account.from_key(CALLER_KEY).address
STRANGER_KEY = "0x" + "5e" * 32  # signs calls too, but no server allows it


def signed_request(
    model_id: str,
    prompt: str,
    *,
    nonce: int,
    key: str = CLIENT_KEY,
    max_tokens: int = 16,
    fee_cap: int = 10**15,
    chain_id: int = DEVNET.chain_id,
    settlement: bytes = DEVNET.settlement,
) -> types_pb2.InferenceRequest:
    """A request `key` signs (EIP-712, for the deployment at `settlement` on `chain_id`) for `model_id` and `prompt`;
    the same arguments give the same request."""
    req = types_pb2.InferenceRequest(
        model_id=model_id,
        prompt=prompt,
        max_tokens=max_tokens,
        max_latency_ms=60_000,
        fee_cap=str(fee_cap),
        nonce=nonce,
        deadline=FAR_DEADLINE,
        chain_id=chain_id,
        settlement=settlement,
    )
    return requests.sign(req, key)


def answering(receipt: types_pb2.Receipt, req: types_pb2.InferenceRequest) -> types_pb2.Receipt:
    """`receipt` naming `req`'s request id, model, client, fee cap and deployment (before the node signs it)."""
    receipt.request_id, receipt.model_id, receipt.client = req.request_id, req.model_id, req.client
    receipt.fee_cap, receipt.chain_id, receipt.settlement = req.fee_cap, req.chain_id, req.settlement
    return receipt
