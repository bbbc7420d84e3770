"""A request scenario with real parts: a NeuralRoute snapshot, receipts hashed and signed by ax0n.spec.receipt
(EIP-712, secp256k1), the quorum's BLS keys, and (`with_claims`) ProofCore's devnet MLP with a real proof.

`checks()` verifies only the proof envelope's public-input binding to the receipt (no pairing), so the many
tests about quorums and signatures need no Groth16 setup; `zk_checks(mlp)` runs the real Groth16 check.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ax0n_validator.checks import (
    OK,
    Finding,
    MemberChecks,
    answers_check,
    receipt_signature,
    route_check,
    zk_proof_check,
)
from ax0n_validator.keys import Keystore
from eth_account import Account

from ax0n.spec import answers, fees, routing
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.answers import ModelSource, RegisteredModel
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, envelope
from ax0n.zk.mlp import Prediction, devnet_model
from ax0n.zk.mlp import input_hash as mlp_input_hash
from ax0n.zk.mlp import output_hash as mlp_output_hash
from ax0n.zk.models import ZkKeys
from ax0n.zk.poseidon import FIELD, to_bytes32

from .helpers import CHAIN_ID, SNAPSHOT_BLOCK, SNAPSHOT_HASH, Registry

MODEL = "mlp-zk"  # registered as a zk-tier model
LLM_MODEL = "llm-test"  # registered as an LLM-tier model
PRICE = 1_000_000  # wei per 1,000 tokens, both models
CLIENT_KEY = "0x" + "c1" * 32  # the client who signs every scenario request
WEIGHTS = hashlib.sha256(b"weights").digest()  # the commitment the scenario's receipts and registrations name
NODE_KEYS = {bytes([i]) * 32: hashlib.sha256(b"node %d" % i).digest() for i in range(1, 5)}  # node id -> key
NODE_ADDRESSES = {nid: bytes.fromhex(Account.from_key(k).address[2:]) for nid, k in NODE_KEYS.items()}
receipt_hash = receipts.receipt_hash


def snapshot() -> routing.Snapshot:
    stats = routing.NodeStats(uptime_bps=10_000, p95_latency_ms=100, samples=10)
    nodes = tuple(
        routing.Node(node_id, hashlib.sha256(node_id).digest()[:20], 10**22, f"c{i % 2}", (MODEL, LLM_MODEL), stats)
        for i, node_id in enumerate(NODE_KEYS)
    )
    return routing.Snapshot(SNAPSHOT_BLOCK, SNAPSHOT_HASH, nodes)


INDEX = routing.build_index(snapshot())


def public_inputs(receipt: types_pb2.Receipt) -> list[int]:
    fields = (receipt.model_commitment, receipt.input_hash, receipt.output_hash)
    return [int.from_bytes(f, "big") % FIELD for f in fields]


def check_proof_binding(item: types_pb2.ProvedReceipt) -> Finding:
    words, verdict = envelope.public_inputs_from_bytes(list(item.proof.public_inputs))
    if words is None:
        return Finding(False, verdict.reason)
    if words != public_inputs(item.receipt):
        return Finding(False, "proof's public inputs are not this receipt's commitment and hashes")
    decoded, verdict = envelope.decode(item.proof.envelope)
    if decoded is None:
        return Finding(False, verdict.reason)
    if decoded.digest != envelope.public_inputs_digest(words):
        return Finding(False, "envelope digest does not match the public inputs")
    return OK


MLP_MODEL = devnet_model()
FEATURES = [(i * 37) % 256 - 128 for i in range(16)]
ZK_PROMPT = json.dumps(FEATURES)


def with_claims(
    item: types_pb2.ProvedReceipt, prediction: Prediction, proof: bytes, mlp: artifacts.Artifacts
) -> types_pb2.ProvedReceipt:
    """`item` (a `proved_receipt(..., prompt=ZK_PROMPT)`) as a zk-tier answer of the devnet MLP on FEATURES claiming
    `prediction`, re-signed, carrying `proof`."""
    assert item.request.prompt == ZK_PROMPT
    item.output = prediction.to_json()
    r = item.receipt
    r.model_commitment = MLP_MODEL.commitment_bytes()
    r.input_hash = to_bytes32(mlp_input_hash(FEATURES))
    r.output_hash = to_bytes32(mlp_output_hash(prediction))
    item.receipt.CopyFrom(receipts.sign(r, NODE_KEYS[r.route.node_id]))
    words = [int.from_bytes(h, "big") for h in (r.model_commitment, r.input_hash, r.output_hash)]
    item.proof.CopyFrom(
        types_pb2.Proof(envelope=proof, circuit_id=mlp.spec.name, public_inputs=[v.to_bytes(32, "big") for v in words])
    )
    return item


def models(zk_commitment: bytes = WEIGHTS) -> ModelSource:
    """The scenario's ModelRegistry at SNAPSHOT_BLOCK: MODEL (zk tier) with `zk_commitment`, LLM_MODEL (LLM tier)."""
    table = {
        MODEL: RegisteredModel(zk_commitment, types_pb2.TIER_ZK, PRICE),
        LLM_MODEL: RegisteredModel(WEIGHTS, types_pb2.TIER_LLM, PRICE),
    }
    return lambda block, model: table.get(model) if block == SNAPSHOT_BLOCK else None


def zk_checks(mlp: artifacts.Artifacts, registered: bytes | None = None) -> MemberChecks:
    return MemberChecks(
        receipt_signature=receipt_signature,
        route=checks().route,
        answers=answers_check(models(registered or MLP_MODEL.commitment_bytes()), DEVNET, DEVNET_DEPLOYMENT),
        proof=zk_proof_check(ZkKeys(mlp.path.parent)),
    )


def checks() -> MemberChecks:
    return MemberChecks(
        receipt_signature=receipt_signature,
        route=route_check(
            lambda block: INDEX if block == SNAPSHOT_BLOCK else None, lambda _, nid: NODE_ADDRESSES.get(nid)
        ),
        answers=answers_check(models(), DEVNET, DEVNET_DEPLOYMENT),
        proof=check_proof_binding,
    )


def signed_request(
    seed: bytes, model: str = MODEL, client_key: str = CLIENT_KEY, prompt: str | None = None
) -> types_pb2.InferenceRequest:
    """A request `client_key` signs for `model`, its nonce taken from `seed` (the same seed, the same request)."""
    req = types_pb2.InferenceRequest(
        model_id=model,
        prompt="hello " + seed.hex()[:8] if prompt is None else prompt,
        max_tokens=16,
        max_latency_ms=60_000,
        fee_cap=str(10**15),
        nonce=int.from_bytes(seed[:8], "big") >> 1,
        deadline=4_102_444_800,  # 2100-01-01
        chain_id=CHAIN_ID,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )
    return requests.sign(req, client_key)


def proved_receipt(
    seed: bytes,
    *,
    tier: int = types_pb2.TIER_ZK,
    node_id: bytes | None = None,
    signer: bytes | None = None,
    attempt: int = 0,
    prompt: str | None = None,
) -> types_pb2.ProvedReceipt:
    """A receipt answering `signed_request(seed)` by the node NeuralRoute picks (or `node_id`), signed by that node
    (or `signer`), billing the fee rule's charge: zk tier for MODEL, or LLM tier for LLM_MODEL."""
    model = MODEL if tier == types_pb2.TIER_ZK else LLM_MODEL
    request = signed_request(seed, model, prompt=prompt)
    request_id = bytes(request.request_id)
    chosen = routing.route(INDEX, request_id, model, attempt)
    node_id = node_id or chosen.node_id
    route = types_pb2.RouteDecision(
        request_id=request_id,
        cluster_id=chosen.cluster,
        node_id=node_id,
        snapshot_block=SNAPSHOT_BLOCK,
        snapshot_hash=INDEX.snapshot_hash,
        attempt=attempt,
    )
    receipt = types_pb2.Receipt(
        chain_id=CHAIN_ID,
        settlement=DEVNET_DEPLOYMENT.settlement,
        request_id=request_id,
        model_id=model,
        model_commitment=WEIGHTS,
        tier=tier,
        input_hash=hashlib.sha256(b"input" + request_id).digest(),
        output_hash=hashlib.sha256(b"output" + request_id).digest(),
        route=route,
        client=request.client,
        fee_cap=request.fee_cap,
    )
    if tier == types_pb2.TIER_LLM:
        receipt.timings.prompt_tokens, receipt.output_token_ids[:] = 3, [5, 6]
    receipt.fee = str(fees.charge(PRICE, answers.billed_tokens(receipt), int(request.fee_cap), DEVNET))
    receipt = receipts.sign(receipt, NODE_KEYS[signer or node_id])
    inputs = public_inputs(receipt)
    proof = types_pb2.Proof(
        envelope=bytes(256) + envelope.public_inputs_digest(inputs),
        circuit_id=MODEL,
        public_inputs=[v.to_bytes(32, "big") for v in inputs],
    )
    return types_pb2.ProvedReceipt(receipt=receipt, proof=proof, request=request, output="out")


@dataclass(frozen=True)
class Validators:
    registry: Registry

    def sets(self, block: int):
        return (SNAPSHOT_HASH, self.registry.validators) if block == SNAPSHOT_BLOCK else None

    def keystores(self, parts: int) -> list[Keystore]:
        secrets = self.registry.secrets
        step = len(secrets) // parts
        return [Keystore(secrets[i * step : (i + 1) * step]) for i in range(parts)]


def write_snapshot(directory: Path, keys: Keystore, bad_pop: int | None = None, zk_commitment: bytes = WEIGHTS) -> None:
    validators = []
    for i, (pubkey, pop) in enumerate(keys.registrations()):
        if i == bad_pop:
            pop = keys.registrations()[(i + 1) % len(keys)][1]  # another key's proof
        address = "0x" + hashlib.sha256(pubkey).digest()[:20].hex()  # stands for its registered address
        validators.append({"pubkey": pubkey.hex(), "stake": str(32 * 10**18), "pop": pop.hex(), "address": address})
    doc = {
        "block": SNAPSHOT_BLOCK,
        "block_hash": SNAPSHOT_HASH.hex(),
        "validators": validators,
        "node_signers": {nid.hex(): addr.hex() for nid, addr in NODE_ADDRESSES.items()},
        "models": {
            model: {"commitment": r.commitment.hex(), "tier": r.tier, "price": str(r.price_per_1k)}
            for model in (MODEL, LLM_MODEL)
            if (r := models(zk_commitment)(SNAPSHOT_BLOCK, model)) is not None
        },
        "routing": json.loads(snapshot().to_json()),
    }
    (directory / f"{SNAPSHOT_BLOCK}.json").write_text(json.dumps(doc))
