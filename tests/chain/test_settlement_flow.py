"""End to end on a fresh anvil: deploy, register a node, escrow, settle a real batch proof, withdraw, govern."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from ax0n_tools.devnet.anvil import Anvil
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from ax0n.chain.batch import Batch, certificate_args, proof_args, submission
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, param_name
from ax0n.chain.registration import signing_key_message, signing_key_proof
from ax0n.spec import bls
from ax0n.spec.certificate import batch_signing_root
from ax0n.spec.params import DEVNET, TOKEN
from ax0n.spec.settlement import BatchPlan, Leaf, validator_payout
from ax0n.zk.batch import CircuitBatchProver


@pytest.fixture(scope="module")
def prover() -> CircuitBatchProver:
    """ProofCore's 16-leaf batch circuit under this machine's setup (the one the deployed verifier embeds)."""
    return CircuitBatchProver(16)


def _leaves(operator: str, client: str, fees: list[int]) -> list[Leaf]:
    return [
        Leaf(
            request_id=hashlib.sha256(f"request {i}".encode()).digest(),
            receipt_hash=hashlib.sha256(f"receipt {i}".encode()).digest(),
            operator=bytes.fromhex(operator[2:]),
            client=bytes.fromhex(client[2:]),
            fee=fee,
            fee_cap=fee + TOKEN,
        )
        for i, fee in enumerate(fees)
    ]


def _refused(call: object, error: str) -> None:
    """`call()` reverts with custom error `error` (a Solidity signature)."""
    with pytest.raises(ContractCustomError) as exc:
        call.call()  # type: ignore[attr-defined]
    assert str(exc.value.data)[2:10] == function_signature_to_4byte_selector(error).hex()


def test_deploy_register_settle_withdraw(anvil: Anvil, manifest: Manifest, prover: CircuitBatchProver) -> None:
    w3 = anvil.web3
    deployer, node, client, validator, relayer = (Signer.from_key(w3, a.key) for a in anvil.accounts[:5])
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")
    stake, escrow = DEVNET.min_node_stake, 100 * TOKEN

    deployer.transact(token.functions.transfer(node.address, stake))
    validator_sk = bls.keygen(b"validator-0".ljust(32, b"\0"))
    deployer.transact(token.functions.transfer(validator.address, stake))
    validator.transact(token.functions.approve(nodes.address, stake))
    chain_id = w3.eth.chain_id
    assert nodes.functions.signingKeyMessage(node.address).call() == signing_key_message(
        node.address, chain_id, nodes.address
    )
    v_proof = signing_key_proof(validator.account.key, validator.address, chain_id, nodes.address)
    validator.transact(
        nodes.functions.register(stake, [], "grpc://127.0.0.1:7101", validator.address, "default", v_proof)
    )
    validator.transact(
        nodes.functions.registerValidatorKey(
            g1_uncompressed(bls.public_key(validator_sk)), g2_uncompressed(bls.prove_possession(validator_sk))
        )
    )
    deployer.transact(token.functions.transfer(client.address, escrow))
    node.transact(token.functions.approve(nodes.address, stake))
    n_proof = signing_key_proof(node.account.key, node.address, chain_id, nodes.address)
    node.transact(
        nodes.functions.register(stake, [b"\x01" * 32], "grpc://127.0.0.1:7001", node.address, "default", n_proof)
    )
    assert nodes.functions.isActive(node.address).call()
    client.transact(token.functions.approve(settlement.address, escrow))
    client.transact(settlement.functions.deposit(escrow))

    fees = [3 * TOKEN + 7, TOKEN // 3, 12_345]
    plan = BatchPlan(1, tuple(_leaves(node.address, client.address, fees)), 16, DEVNET)
    batch, proof = submission(plan, prover.prove(plan))
    assert batch.fee_total == sum(fees) and batch.count == 3
    # The contract builds the same 72 public inputs (its own 78/12 bps), and the deployed verifier accepts them.
    assert settlement.functions.publicInputs(batch.args()).call() == batch.public_inputs(DEVNET)
    a, b, c = proof_args(proof)
    assert manifest.contract(w3, "Verifier").functions.verifyProof(a, b, c, batch.public_inputs(DEVNET)).call()

    root = batch.root.to_bytes(32, "big")
    message = batch_signing_root(batch.batch_id.to_bytes(32, "big"), root, w3.eth.chain_id)
    assert settlement.functions.batchSigningRoot(batch.batch_id, root).call() == message
    reference = w3.eth.block_number - 1  # the validator registered before the client's deposit transactions
    assert nodes.functions.validatorStakeAt(validator.address, reference).call() == stake
    cert = certificate_args(reference, [], bls.sign(validator_sk, message))

    def submit(b: Batch, p: bytes, c: tuple) -> object:
        return settlement.functions.submitBatch(b.args(), p, c)

    tampered = bytearray(proof)
    tampered[40] ^= 1
    _refused(submit(batch, bytes(tampered), cert), "InvalidBatchProof()")
    more = (batch.operator_amounts[0] + 1, *batch.operator_amounts[1:])  # books still balance, proof does not
    shifted = dataclasses.replace(batch, operator_amounts=more, treasury_total=batch.treasury_total - 1)
    _refused(submit(shifted, proof, cert), "InvalidBatchProof()")
    _refused(submit(dataclasses.replace(batch, root=batch.root + 1), proof, cert), "InvalidBatchProof()")
    overcharged = (batch.client_amounts[0] + 1, *batch.client_amounts[1:])
    _refused(
        submit(dataclasses.replace(batch, client_amounts=overcharged), proof, cert),
        "SplitMismatch(uint256,uint256,uint256)",
    )
    forged = certificate_args(reference, [], bls.sign(validator_sk, message[::-1]))
    _refused(submit(batch, proof, forged), "InvalidAggregateSignature()")  # the validators did not sign this root
    alone = certificate_args(reference, [validator.address], bls.sign(validator_sk, message))
    _refused(submit(batch, proof, alone), "InsufficientSignedStake(uint256,uint256)")  # no one else signed

    receipt = relayer.transact(submit(batch, proof, cert))
    settled = settlement.events.BatchSettled().process_receipt(receipt)[0]["args"]
    operator_total = sum(batch.operator_amounts)
    assert (settled["batchId"], settled["totalFee"], settled["operators"]) == (1, sum(fees), operator_total)
    assert (settled["validators"], settled["treasury"]) == (batch.validator_total, batch.treasury_total)
    assert operator_total + batch.validator_total + batch.treasury_total == sum(fees)
    assert settlement.functions.escrow(client.address).call() == escrow - sum(fees)
    assert settlement.functions.credits(manifest.treasury).call() == batch.treasury_total
    assert (settled["referenceBlock"], settled["signedStake"], settled["totalValidatorStake"]) == (
        reference,
        stake,
        stake,
    )
    validator.transact(settlement.functions.claimValidatorFees(1, []))
    share = validator_payout(batch.validator_total, stake, settled["signedStake"])
    assert share == batch.validator_total  # the only signer gets it all
    assert settlement.functions.credits(validator.address).call() == share
    assert settlement.functions.credits(node.address).call() == operator_total

    _refused(submit(batch, proof, cert), "WrongBatchId(uint64,uint64)")  # never twice

    node.transact(settlement.functions.withdraw())
    assert token.functions.balanceOf(node.address).call() == operator_total
    assert settlement.functions.credits(node.address).call() == 0


def test_governance_changes_a_parameter_after_seven_days(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    voter = Signer.from_key(w3, anvil.accounts[0].key)  # holds the remaining supply
    token = manifest.contract(w3, "Ax0nToken")
    governor = manifest.contract(w3, "Ax0nGovernor")
    params = manifest.contract(w3, "ProtocolParams")
    name = param_name("settlement_frequency")
    call = params.functions.set(name, 3)
    targets, values, calldatas = [params.address], [0], [call._encode_transaction_data()]
    description = "settle every 9 blocks"
    desc_hash = w3.keccak(text=description)

    voter.transact(token.functions.delegate(voter.address))
    anvil.increase_time(1)
    receipt = voter.transact(governor.functions.propose(targets, values, calldatas, description))
    proposal_id = governor.events.ProposalCreated().process_receipt(receipt)[0]["args"]["proposalId"]
    anvil.increase_time(48 * 3600 + 1)
    voter.transact(governor.functions.castVote(proposal_id, 1))
    anvil.increase_time(72 * 3600)
    voter.transact(governor.functions.queue(targets, values, calldatas, desc_hash))

    with pytest.raises(ContractCustomError):  # the timelock holds it for 7 days
        governor.functions.execute(targets, values, calldatas, desc_hash).call({"from": voter.address})
    assert params.functions.get(name).call() == DEVNET.settlement_frequency

    anvil.increase_time(7 * 24 * 3600)
    voter.transact(governor.functions.execute(targets, values, calldatas, desc_hash))
    assert params.functions.get(name).call() == 3

    with pytest.raises(ContractCustomError):  # and nobody skips the timelock
        params.functions.set(name, 1).call({"from": voter.address})
