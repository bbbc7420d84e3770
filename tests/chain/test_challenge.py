"""A wrong zk-tier output is challenged on anvil with a real MLP proof of the right one: slash and reward."""

from __future__ import annotations

import pytest
from ax0n_tools.devnet.anvil import Anvil
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from ax0n.chain.challenge import commitment, receipt_words, route_words
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from ax0n.zk.mlp import devnet_model, input_hash, output_hash

FEATURES = [(7 * i) % 31 - 15 for i in range(16)]


@pytest.fixture(scope="module")
def truth() -> tuple[int, bytes]:
    """The devnet model's output hash for FEATURES and a real proof of it (this machine's MLP setup)."""
    model = devnet_model()
    envelope = artifacts.load(artifacts.MLP).prove(model.circuit_inputs(FEATURES))
    return output_hash(model.forward(FEATURES)), envelope[:256]


def _receipt(key: str, out: int, snapshot_block: int, request: int = 1) -> types_pb2.Receipt:
    r = types_pb2.Receipt(
        request_id=request.to_bytes(32, "big"),
        model_id="mlp-devnet",
        model_commitment=devnet_model().commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=input_hash(FEATURES).to_bytes(32, "big"),
        output_hash=out.to_bytes(32, "big"),
        fee="1000",
        client=b"\x0c" * 20,
        fee_cap="2000",
        chain_id=31337,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )
    r.route.snapshot_block = snapshot_block
    return receipts.sign(r, key)


def _refused(call: object, error: str) -> None:
    with pytest.raises(ContractCustomError) as exc:
        call.call()  # type: ignore[attr-defined]
    assert str(exc.value.data)[2:10] == function_signature_to_4byte_selector(error).hex()


def test_wrong_zk_output_is_slashed(anvil: Anvil, manifest: Manifest, truth: tuple[int, bytes]) -> None:
    w3 = anvil.web3
    deployer, operator, node_key, challenger, stranger = anvil.accounts[:5]
    owner = Signer.from_key(w3, deployer.key)
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")
    stake = DEVNET.min_node_stake
    owner.transact(token.functions.transfer(operator.address, stake))
    op = Signer.from_key(w3, operator.key)
    op.transact(token.functions.approve(nodes.address, stake))
    key_proof = signing_key_proof(node_key.key, op.address, w3.eth.chain_id, nodes.address)
    op.transact(nodes.functions.register(stake, [], "grpc://127.0.0.1:7001", node_key.address, "default", key_proof))

    right, proof = truth
    block = w3.eth.block_number
    wrong = _receipt(node_key.key, right ^ 1, block)
    words = receipt_words(wrong)
    assert settlement.functions.RECEIPT_TYPEHASH().call() == words[0]
    assert settlement.functions.receiptHash(words).call() == receipts.receipt_hash(wrong)

    def challenge(r: types_pb2.Receipt, p: bytes = proof, out: int = right) -> object:
        return settlement.functions.challengeZkOutput(
            operator.address, receipt_words(r), route_words(r), bytes(r.signature), p, out, challenger.address
        )

    honest = _receipt(node_key.key, right, block, request=2)
    _refused(challenge(honest), "OutputNotDisputed()")
    tampered = bytearray(proof)
    tampered[40] ^= 1
    _refused(challenge(wrong, bytes(tampered)), "InvalidChallengeProof()")
    _refused(challenge(wrong, proof, right ^ 2), "InvalidChallengeProof()")  # the proof is of `right` only
    _refused(challenge(_receipt(stranger.key, right ^ 1, block)), "NotOperatorsReceipt(address)")
    other_route = route_words(_receipt(node_key.key, right ^ 1, block + 5))  # e.g. a later snapshot block
    args = (operator.address, words, other_route, bytes(wrong.signature), proof, right, challenger.address)
    _refused(settlement.functions.challengeZkOutput(*args), "RouteMismatch()")

    before = settlement.functions.credits(manifest.treasury).call()
    digest = receipts.receipt_hash(wrong)
    _refused(challenge(wrong), "NotCommitted(bytes32)")  # the reward's beneficiary commits a block before
    as_challenger = Signer.from_key(w3, challenger.key)
    as_challenger.transact(settlement.functions.commitChallenge(commitment(digest, challenger.address)))
    assert settlement.functions.challengeCommitment(digest, challenger.address).call() == commitment(
        digest, challenger.address
    )
    anvil.mine()  # a later block than the commitment's
    receipt = Signer.from_key(w3, deployer.key).transact(challenge(wrong))  # whoever sends it, the committed is paid
    event = settlement.events.ZkOutputChallenged().process_receipt(receipt, errors=DISCARD)[0]["args"]
    slashed, reward = DEVNET.slash_amount("zk_output", stake)  # its fault class's ratio of the stake
    assert (event["operator"], event["challenger"], event["slashed"]) == (operator.address, challenger.address, slashed)
    assert event["receiptHash"] == receipts.receipt_hash(wrong)
    assert settlement.functions.credits(challenger.address).call() == reward
    assert settlement.functions.credits(manifest.treasury).call() == before + slashed - reward
    assert not nodes.functions.isActive(operator.address).call()
    assert nodes.functions.node(operator.address).call()[0] == stake - slashed
    _refused(challenge(wrong), "AlreadyChallenged(bytes32)")

    late = _receipt(node_key.key, right ^ 1, block, request=3)
    anvil.mine(DEVNET.slash_window + 1)
    _refused(challenge(late), "ChallengeWindowClosed(uint256)")


def test_equivocation_is_slashed(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    deployer, operator, node_key, challenger = (anvil.accounts[i] for i in (0, 5, 6, 7))
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")
    stake = DEVNET.min_node_stake
    Signer.from_key(w3, deployer.key).transact(token.functions.transfer(operator.address, stake))
    op = Signer.from_key(w3, operator.key)
    op.transact(token.functions.approve(nodes.address, stake))
    key_proof = signing_key_proof(node_key.key, op.address, w3.eth.chain_id, nodes.address)
    op.transact(nodes.functions.register(stake, [], "grpc://127.0.0.1:7002", node_key.address, "default", key_proof))

    block = w3.eth.block_number
    first, second = (_receipt(node_key.key, out, block, request=9) for out in (1, 2))  # one request, two outputs
    other = _receipt(node_key.key, 2, block, request=10)

    def challenge(a: types_pb2.Receipt, b: types_pb2.Receipt) -> object:
        return settlement.functions.challengeEquivocation(
            operator.address,
            receipt_words(a),
            route_words(a),
            bytes(a.signature),
            receipt_words(b),
            bytes(b.signature),
            challenger.address,
        )

    _refused(challenge(first, first), "NotEquivocation()")
    _refused(challenge(first, other), "NotEquivocation()")
    slashes = Web3.keccak(abi_encode(["address", "bytes32"], [operator.address, bytes(first.request_id)]))
    Signer.from_key(w3, challenger.key).transact(
        settlement.functions.commitChallenge(commitment(slashes, challenger.address))
    )
    anvil.mine()
    receipt = Signer.from_key(w3, challenger.key).transact(challenge(first, second))
    event = settlement.events.EquivocationChallenged().process_receipt(receipt, errors=DISCARD)[0]["args"]
    slashed, reward = DEVNET.slash_amount("equivocation", stake)
    assert (event["operator"], event["requestId"], event["slashed"]) == (operator.address, first.request_id, slashed)
    assert settlement.functions.credits(challenger.address).call() == reward
    assert not nodes.functions.isActive(operator.address).call()
    _refused(challenge(second, first), "AlreadyChallenged(bytes32)")


def test_the_devnet_deployment_is_where_clients_sign_for(manifest: Manifest) -> None:
    """`ax0n.spec.answers.DEVNET` (the SDK's and services' default) names where a fresh devnet puts Settlement."""
    assert manifest.addresses["Settlement"].lower() == "0x" + DEVNET_DEPLOYMENT.settlement.hex()


def test_receipts_signed_for_another_settlement_do_not_verify_here(anvil: Anvil, manifest: Manifest) -> None:
    settlement = manifest.contract(anvil.web3, "Settlement")
    here = _receipt(anvil.accounts[2].key, 5, 1)
    assert settlement.functions.receiptHash(receipt_words(here)).call() == receipts.receipt_hash(here)
    elsewhere = types_pb2.Receipt()
    elsewhere.CopyFrom(here)
    elsewhere.settlement = b"\x99" * 20  # the same receipt, signed for another deployment on this chain
    elsewhere = receipts.sign(elsewhere, anvil.accounts[2].key)
    assert receipt_words(elsewhere) == receipt_words(here)
    assert settlement.functions.receiptHash(receipt_words(elsewhere)).call() != receipts.receipt_hash(elsewhere)
