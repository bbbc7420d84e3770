"""Whether a receipt answers a signed request: the check every party makes before it believes a receipt.

Validators (before attesting), re-executors, provers (before proving), the batch committee and the settler (before
settling) and the SDK all call `receipt_fault`. A receipt passes only if

- the request is signed by its client (EIP-712, `ax0n.spec.request.verify`), its prompt hash and id derived right,
  for this deployment (chain id and Settlement address: the EIP-712 domain);
- the receipt names that request, client, fee cap, chain and model;
- its model commitment and tier are the model's registration (ModelRegistry at the route's snapshot block);
- its fee is the fee rule's charge (`ax0n.spec.fees.charge`) at the registered price for the tokens it bills
  (LLM tier: the prompt's tokens, which re-executors count themselves, plus the output's).

So a node cannot bill a client who never signed, bill more than the signed cap, or bill another price, and a
receipt for a request its client never signed is never certified, proved, batched or settled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ax0n.spec import fees
from ax0n.spec import request as requests
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2

ZK_TOKENS = 1  # a zk-tier inference is billed as one token: one forward pass, one prediction


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model's ModelRegistry record at one block."""

    commitment: bytes  # 32 bytes
    tier: int  # types_pb2.TIER_ZK or TIER_LLM
    price_per_1k: int  # wei per 1,000 tokens
    # the precision it is registered in: it fixes the LLM tier's fingerprint profile (ax0n.spec.fingerprint.profile_for).
    # ModelRegistry records carry no precision yet, so every on-chain registration is float32.
    dtype: str = "float32"
    # zk tier: ModelRegistry's ZkMode (ax0n.zk.models.Mode: 0 private weights, 1 public weights) and the hash of
    # the verifying key its proofs verify under (ax0n.spec.zkproof); None / b"" where the source does not say
    zk_mode: int | None = None
    vk_hash: bytes = b""


@dataclass(frozen=True, slots=True)
class Deployment:
    """One deployment of the protocol: its chain and Settlement address, the EIP-712 domain of every request and
    receipt signed for it."""

    chain_id: int
    settlement: bytes  # 20-byte Settlement address

    @classmethod
    def of(cls, chain_id: int, settlement: str) -> Deployment:
        """From a 0x-hex Settlement address."""
        raw = bytes.fromhex(settlement.removeprefix("0x"))
        if len(raw) != 20:
            raise ValueError(f"Settlement address must be 20 bytes of hex, got {settlement!r}")
        return cls(chain_id, raw)


# The devnet's deployment: anvil's chain id, and the address Settlement gets when anvil's first account deploys the
# contracts on a fresh chain (`ax0n devnet`, ax0n.chain.deploy: its sixth transaction). tests/chain checks it.
DEVNET = Deployment(31_337, bytes.fromhex("5fc8d32690cc91d4c39d9d3abcbd16989f875707"))

ModelSource = Callable[[int, str], RegisteredModel | None]  # (snapshot block, model id) -> its registration


def billed_tokens(receipt: types_pb2.Receipt) -> int:
    """The tokens a receipt bills: the prompt's and the output's (LLM tier), or ZK_TOKENS (zk tier)."""
    if receipt.tier == types_pb2.TIER_ZK:
        return ZK_TOKENS
    return receipt.timings.prompt_tokens + len(receipt.output_token_ids)


def request_fault(req: types_pb2.InferenceRequest) -> str:
    """Why `req` is not a request its client signed ('' when it is)."""
    try:
        requests.verify(req)
    except (requests.InvalidSignature, ValueError) as exc:
        return f"request signature: {exc}"
    if not req.request_id:
        return "request carries no request id"
    return ""


def deployment_fault(req: types_pb2.InferenceRequest, deployment: Deployment) -> str:
    """Why `req` is not signed for `deployment` ('' when it is): a signature made for another chain or another
    Settlement contract is not honoured here."""
    if req.chain_id != deployment.chain_id:
        return f"request is signed for chain {req.chain_id}; this deployment is on chain {deployment.chain_id}"
    if bytes(req.settlement) != deployment.settlement:
        return (
            f"request is signed for Settlement 0x{bytes(req.settlement).hex()}; this deployment's Settlement is "
            f"0x{deployment.settlement.hex()}"
        )
    return ""


def consistency_fault(receipt: types_pb2.Receipt, req: types_pb2.InferenceRequest) -> str:
    """Why `receipt` does not answer the client-signed request `req` ('' when it does): the request's signature,
    and the receipt's request, model, client, chain and fee cap."""
    if why := request_fault(req):
        return why
    if bytes(receipt.request_id) != bytes(req.request_id):
        return "receipt answers another request"
    if receipt.model_id != req.model_id:
        return f"receipt names model {receipt.model_id!r}, the request {req.model_id!r}"
    if bytes(receipt.client) != bytes(req.client):
        return "receipt names another client than the request's signer"
    if receipt.chain_id != req.chain_id or bytes(receipt.settlement) != bytes(req.settlement):
        return "receipt is signed for another deployment (chain id or Settlement address) than its request"
    if receipt.fee_cap != req.fee_cap:
        return "receipt's fee cap is not the signed fee cap"
    if receipt.tier == types_pb2.TIER_LLM and len(receipt.output_token_ids) > req.max_tokens:
        return "receipt bills more output tokens than the request's max_tokens"
    return ""


def registration_fault(receipt: types_pb2.Receipt, model: RegisteredModel | None, params: Params = MAINNET) -> str:
    """Why `receipt` does not match its model's registration or the fee rule at the registered price ('' if it
    does)."""
    if model is None:
        return f"model {receipt.model_id!r} is not registered at the route's snapshot"
    if bytes(receipt.model_commitment) != model.commitment or receipt.tier != model.tier:
        return f"receipt's model commitment or tier is not model {receipt.model_id!r}'s registration"
    try:
        cap, fee = fees.amount(receipt.fee_cap, "fee_cap"), fees.amount(receipt.fee, "receipt.fee")
    except ValueError as exc:
        return str(exc)
    tokens = billed_tokens(receipt)
    expected = fees.charge(model.price_per_1k, tokens, cap, params)
    if fee != expected:
        return f"fee {fee} is not the fee rule's {expected} for {tokens} tokens at the registered price"
    return ""


def receipt_fault(
    receipt: types_pb2.Receipt,
    req: types_pb2.InferenceRequest,
    model: RegisteredModel | None,
    deployment: Deployment,
    params: Params = MAINNET,
) -> str:
    """Why `receipt` does not answer the request `req` signed for `deployment`, for the registered `model` ('' when
    it does)."""
    return (
        deployment_fault(req, deployment)
        or consistency_fault(receipt, req)
        or registration_fault(receipt, model, params)
    )
