"""The real thing on anvil: a settler batch proved under ProofCore's circuit, certified by the batch committee,
and settled by Settlement with the generated Groth16 verifier (BN254 pairing) and the BLS check (EIP-2537)."""

from __future__ import annotations

import dataclasses

import pytest
import redis
from ax0n_settler.chain import SettlementChain, abi
from ax0n_settler.journal import Journal, State
from ax0n_settler.settler import Policy, Settler
from ax0n_tools.devnet.anvil import Anvil
from eth_utils import function_signature_to_4byte_selector
from web3.exceptions import ContractCustomError

from ax0n.chain.batch import Batch
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import BatchPlan, tree_size
from ax0n.zk.batch import CircuitBatchProver
from tests.settler.helpers import deploy, enqueue, finalized


def test_real_batch_proof_and_committee_settle_on_anvil(anvil: Anvil, journal: Journal, rclient: redis.Redis) -> None:
    d = deploy(anvil, verifier="Batch16Verifier")
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 3 // 2]) for i in range(5)]
    enqueue(rclient, journal, finals)
    prover = CircuitBatchProver(tree_size(DEVNET.max_batch_size), build=False)
    chain = SettlementChain(d.w3, d.settlement, d.settler.key)
    settler = Settler(journal, chain, prover, d.committee, DEVNET, Policy(confirmations=1))
    settler.tick()  # build, prove (seconds), certify, send; automine settles it
    anvil.mine()
    settler.tick()
    rec = journal.get(1)
    assert rec.state == State.CONFIRMED and rec.circuit_id == "batch16"
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    assert int.from_bytes(contract.functions.batches(1).call()[0], "big") == rec.root
    plan = BatchPlan(1, tuple(rec.leaves), tree_size(DEVNET.max_batch_size), DEVNET)
    assert prover.artifacts.verify(rec.proof, plan.statement.public_inputs())

    # the same proof in batch 2's slot, or a batch with one amount changed, is refused by the verifier
    anvil.mine(max(DEVNET.settlement_frequency, DEVNET.routing_rebuild_interval))  # a rebuild block after setup
    other = BatchPlan(2, plan.leaves, plan.size, DEVNET)
    cert = d.committee.certify(2, other.root, chain.chain_id)
    b = Batch.from_statement(other.statement)
    moved = dataclasses.replace(
        b, operator_amounts=(b.operator_amounts[0] + 1, *b.operator_amounts[1:]), treasury_total=b.treasury_total - 1
    )
    for batch, proof in ((b, rec.proof), (moved, prover.prove(other))):
        with pytest.raises(ContractCustomError) as err:
            chain.estimate(batch, proof[:256], cert)
        assert str(err.value.data).startswith("0x" + function_signature_to_4byte_selector("InvalidBatchProof()").hex())
    chain.estimate(b, prover.prove(other)[:256], cert)  # while the right proof would go through
