"""End to end on a fresh anvil: deploy, register a node, escrow, settle a proven batch, withdraw, govern."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractCustomError

from ax0n import bls
from ax0n.certificate import batch_signing_root
from ax0n.chain.anvil import Anvil
from ax0n.chain.batch import Batch, SampleBatchProver, certificate_args, proof_args, split_totals
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, param_name
from ax0n.params import DEVNET, TOKEN

SAMPLE_PK = "contracts/circuits/sample_batch.pk"


@pytest.fixture(scope="module")
def prover() -> SampleBatchProver:
    return SampleBatchProver.load(SAMPLE_PK)


def _batch(batch_id: int, client: str, fee: int, operator: str, validator: str, witness: int) -> Batch:
    op, val, _ = split_totals(fee, DEVNET)
    count = 4
    return Batch(
        batch_id=batch_id,
        root=SampleBatchProver.root_for(count, witness),
        count=count,
        clients=(client,),
        debits=(fee,),
        operators=(operator,),
        operator_credits=(op,),
        validators=(validator,),
        validator_credits=(val,),
    )


def _args(batch: Batch) -> tuple:
    return (
        batch.batch_id,
        batch.root.to_bytes(32, "big"),
        batch.count,
        list(batch.clients),
        list(batch.debits),
        list(batch.operators),
        list(batch.operator_credits),
        list(batch.validators),
        list(batch.validator_credits),
    )


def test_deploy_register_settle_withdraw(anvil: Anvil, manifest: Manifest, prover: SampleBatchProver) -> None:
    w3 = anvil.web3
    deployer, node, client, validator, relayer = (Signer.from_key(w3, a.key) for a in anvil.accounts[:5])
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")
    stake, escrow, fee = DEVNET.min_node_stake, 100 * TOKEN, 3 * TOKEN + 7

    deployer.transact(token.functions.transfer(node.address, stake))
    validator_sk = bls.keygen(b"validator-0".ljust(32, b"\0"))
    deployer.transact(token.functions.transfer(validator.address, stake))
    validator.transact(token.functions.approve(nodes.address, stake))
    validator.transact(nodes.functions.register(stake, [], "grpc://127.0.0.1:7101", validator.address))
    validator.transact(
        nodes.functions.registerValidatorKey(
            g1_uncompressed(bls.public_key(validator_sk)), g2_uncompressed(bls.prove_possession(validator_sk))
        )
    )
    deployer.transact(token.functions.transfer(client.address, escrow))
    node.transact(token.functions.approve(nodes.address, stake))
    node.transact(nodes.functions.register(stake, [b"\x01" * 32], "grpc://127.0.0.1:7001", node.address))
    assert nodes.functions.isActive(node.address).call()
    client.transact(token.functions.approve(settlement.address, escrow))
    client.transact(settlement.functions.deposit(escrow))

    batch = _batch(1, client.address, fee, node.address, validator.address, witness=123_456_789)
    proof = prover.prove_batch(batch, witness=123_456_789)
    # The proof verifies on the deployed verifier directly, and the digest matches the contract's.
    assert settlement.functions.creditsDigest(_args(batch)).call() == batch.credits_digest()
    a, b, c = proof_args(proof)
    assert manifest.contract(w3, "Verifier").functions.verifyProof(a, b, c, batch.public_inputs()).call()

    root = batch.root.to_bytes(32, "big")
    message = batch_signing_root(batch.batch_id.to_bytes(32, "big"), root, w3.eth.chain_id)
    assert settlement.functions.batchSigningRoot(batch.batch_id, root).call() == message
    cert = certificate_args([validator.address], [0], bls.sign(validator_sk, message))

    tampered = bytearray(proof)
    tampered[40] ^= 1
    with pytest.raises(ContractCustomError):
        settlement.functions.submitBatch(_args(batch), bytes(tampered), cert).call({"from": relayer.address})
    forged = certificate_args([validator.address], [0], bls.sign(validator_sk, message[::-1]))
    with pytest.raises(ContractCustomError):  # the committee did not sign this root
        settlement.functions.submitBatch(_args(batch), proof, forged).call({"from": relayer.address})

    receipt = relayer.transact(settlement.functions.submitBatch(_args(batch), proof, cert))
    settled = settlement.events.BatchSettled().process_receipt(receipt)[0]["args"]
    op, val, tre = split_totals(fee, DEVNET)
    assert (settled["batchId"], settled["totalFee"], settled["operators"], settled["treasury"]) == (1, fee, op, tre)
    assert settlement.functions.escrow(client.address).call() == escrow - fee
    assert settlement.functions.credits(manifest.treasury).call() == tre
    assert settlement.functions.credits(validator.address).call() == val

    with pytest.raises(ContractCustomError):  # never twice
        settlement.functions.submitBatch(_args(batch), proof, cert).call({"from": relayer.address})

    node.transact(settlement.functions.withdraw())
    assert token.functions.balanceOf(node.address).call() == op
    assert settlement.functions.credits(node.address).call() == 0


def test_governance_changes_a_parameter_after_seven_days(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    voter = Signer.from_key(w3, anvil.accounts[0].key)  # holds the remaining supply
    token = manifest.contract(w3, "Ax0nToken")
    governor = manifest.contract(w3, "Ax0nGovernor")
    params = manifest.contract(w3, "ProtocolParams")
    name = param_name("settlement_frequency")
    call = params.functions.set(name, 9)
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
    assert params.functions.get(name).call() == 9

    with pytest.raises(ContractCustomError):  # and nobody skips the timelock
        params.functions.set(name, 1).call({"from": voter.address})
