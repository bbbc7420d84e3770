"""Both zk modes on anvil: ModelRegistry records each model's mode and key hash, the router Settlement challenges
with sends each proof to the verifier its model commitment names, and a wrong public-weight output is slashed."""

from __future__ import annotations

import pytest
from ax0n_tools.devnet.anvil import Anvil
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from ax0n.chain.challenge import commitment, receipt_words, route_words
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.chain.registration import signing_key_proof
from ax0n.chain.snapshot import registered
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from ax0n.zk.mlp import devnet_model
from ax0n.zk.models import Mode, ZkModel

FEATURES = [(3 * i) % 29 - 14 for i in range(16)]
PRIVATE, PUBLIC = (
    ZkModel(devnet_model(), Mode.PRIVATE_WEIGHTS, artifacts.load(artifacts.MLP)),
    ZkModel.load(devnet_model(), Mode.PUBLIC_WEIGHTS),
)


@pytest.fixture(scope="module")
def manifest(anvil: Anvil) -> Manifest:
    specs = (
        ModelSpec(model_key("zk-private"), PRIVATE.commitment_bytes(), "zk", 874, PRIVATE.vk_hash, 10**15),
        ModelSpec(
            model_key("zk-public"),
            PUBLIC.commitment_bytes(),
            "zk",
            874,
            PUBLIC.vk_hash,
            10**15,
            "public",
            PUBLIC.artifacts.spec.contract,
        ),
    )
    return deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET, models=specs)


def _words(envelope: bytes) -> tuple[list[int], list[list[int]], list[int]]:
    w = [int.from_bytes(envelope[i : i + 32], "big") for i in range(0, 256, 32)]
    return [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]]


def _accepts(router, envelope: bytes, public: list[int]) -> bool:  # type: ignore[no-untyped-def]
    """The router's verdict; a revert (the generated verifier on points off the curve) is a rejection too."""
    try:
        return bool(router.functions.verifyProof(*_words(envelope), public).call())
    except ContractLogicError:
        return False


def test_registry_records_mode_and_key(anvil: Anvil, manifest: Manifest) -> None:
    reg = manifest.contract(anvil.web3, "ModelRegistry")
    for name, model in (("zk-private", PRIVATE), ("zk-public", PUBLIC)):
        record = reg.functions.model(model_key(name)).call()
        got = registered(record)
        assert (got.commitment, got.zk_mode, got.vk_hash) == (model.commitment_bytes(), model.mode, model.vk_hash)
    assert reg.functions.zkVerifierOf(PRIVATE.commitment_bytes()).call() == "0x" + "0" * 40
    assert int(reg.functions.zkVerifierOf(PUBLIC.commitment_bytes()).call(), 16) != 0


def test_router_takes_the_key_the_commitment_names(anvil: Anvil, manifest: Manifest) -> None:
    router = manifest.contract(anvil.web3, "ZkVerifierRouter")
    for model in (PRIVATE, PUBLIC):
        inputs = model.circuit_inputs(FEATURES)
        public = model.artifacts.public_inputs(inputs)
        env = model.artifacts.prove(inputs)
        assert _accepts(router, env, public)
        tampered = bytearray(env)
        tampered[33] ^= 1
        assert not _accepts(router, bytes(tampered), public)
    # a public-weight proof (its circuit leaves the commitment free) claiming the private model's commitment
    inputs = {**PUBLIC.circuit_inputs(FEATURES), "commitment": int.from_bytes(PRIVATE.commitment_bytes(), "big")}
    env = PUBLIC.artifacts.prove(inputs)
    assert PUBLIC.artifacts.verify(env, PUBLIC.artifacts.public_inputs(inputs))  # valid under its own key...
    assert not _accepts(router, env, PUBLIC.artifacts.public_inputs(inputs))  # ...not for that commitment


def test_wrong_public_weight_output_is_slashed(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    deployer, operator, node_key, challenger = anvil.accounts[:4]
    owner = Signer.from_key(w3, deployer.key)
    token, nodes = manifest.contract(w3, "Ax0nToken"), manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")
    stake = DEVNET.min_node_stake
    owner.transact(token.functions.transfer(operator.address, stake))
    op = Signer.from_key(w3, operator.key)
    op.transact(token.functions.approve(nodes.address, stake))
    key_proof = signing_key_proof(node_key.key, op.address, w3.eth.chain_id, nodes.address)
    op.transact(nodes.functions.register(stake, [], "grpc://127.0.0.1:7001", node_key.address, "default", key_proof))

    inputs = PUBLIC.circuit_inputs(FEATURES)
    right, proof = int(inputs["outputHash"]), PUBLIC.artifacts.prove(inputs)[:256]  # type: ignore[call-overload]
    r = types_pb2.Receipt(
        request_id=(7).to_bytes(32, "big"),
        model_id="zk-public",
        model_commitment=PUBLIC.commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=int(inputs["inputHash"]).to_bytes(32, "big"),  # type: ignore[call-overload]
        output_hash=(right ^ 1).to_bytes(32, "big"),
        fee="1000",
        client=b"\x0c" * 20,
        fee_cap="2000",
        chain_id=31337,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )
    r.route.snapshot_block = w3.eth.block_number
    wrong = receipts.sign(r, node_key.key)
    digest = receipts.receipt_hash(wrong)
    Signer.from_key(w3, challenger.key).transact(
        settlement.functions.commitChallenge(commitment(digest, challenger.address))
    )
    anvil.mine()
    call = settlement.functions.challengeZkOutput(
        operator.address,
        receipt_words(wrong),
        route_words(wrong),
        bytes(wrong.signature),
        proof,
        right,
        challenger.address,
    )
    event = settlement.events.ZkOutputChallenged().process_receipt(owner.transact(call), errors=DISCARD)[0]["args"]
    assert (event["operator"], event["receiptHash"]) == (operator.address, digest)
    assert not nodes.functions.isActive(operator.address).call()
