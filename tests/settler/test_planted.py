"""A wrong zk-tier receipt planted past the validators (a committee that signs without checking) settles in a
real batch on anvil; the prover's evidence then gets the operator slashed and the challenger rewarded."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from ax0n_prover.core import OutputFault, ReceiptProver
from ax0n_settler.chain import SettlementChain
from ax0n_settler.challenges import Challenger
from ax0n_settler.committee import LocalCommittee
from ax0n_settler.journal import Journal, State
from ax0n_settler.settler import Policy, Settler
from ax0n_tools.devnet.anvil import Anvil
from ax0n_tools.devnet.provision import ZK_MODEL, provision
from eth_account import Account

from ax0n.spec import receipt as receipts
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import tree_size
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from ax0n.zk.batch import CircuitBatchProver
from ax0n.zk.mlp import Prediction, devnet_model, input_hash, output_hash
from ax0n.zk.poseidon import to_bytes32
from tests.clients import answering, signed_request
from tests.settler.helpers import enqueue

FEATURES = [(7 * i) % 31 - 15 for i in range(16)]


def test_planted_wrong_output_in_a_settled_batch_is_slashed(
    anvil: Anvil, journal: Journal, rclient: redis.Redis, tmp_path: Path
) -> None:
    w3 = anvil.web3
    prov = provision(w3, anvil.accounts[0].key, tmp_path)  # operator, node key, 4 validators, funded client
    model, client = devnet_model(), Account.from_key(prov.client_key_file.read_text().strip())
    truth = model.forward(FEATURES)
    lie = Prediction((truth.label + 1) % 10, truth.logits)
    settlement_address = bytes.fromhex(prov.manifest.addresses["Settlement"][2:])
    request = signed_request(ZK_MODEL, str(FEATURES), nonce=0x5E, key=client.key.to_0x_hex(), fee_cap=2000,
                             chain_id=w3.eth.chain_id, settlement=settlement_address)  # fmt: skip
    r = types_pb2.Receipt(
        model_commitment=model.commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=to_bytes32(input_hash(FEATURES)),
        output_hash=to_bytes32(output_hash(lie)),
        fee="1000",
    )
    r = answering(r, request)
    r.route.snapshot_block = w3.eth.block_number  # the challenge window runs from here
    planted = receipts.sign(r, prov.node_key_file.read_text().strip())
    cert = types_pb2.QuorumCertificate(
        request_id=planted.request_id, receipt_hash=receipts.receipt_hash(planted), verdict=types_pb2.VERDICT_VALID
    )  # no signatures: only a committee that checks nothing lets this through
    enqueue(rclient, journal, [types_pb2.FinalizedReceipt(receipt=planted, certificate=cert, output=lie.to_json())])

    settlement = prov.manifest.contract(w3, "Settlement")
    settler_key = prov.settler_key_file.read_text().strip()
    chain = SettlementChain(w3, settlement.address, settler_key)
    settler = Settler(
        journal,
        chain,
        CircuitBatchProver(tree_size(DEVNET.max_batch_size), build=False),  # the real batch16 proof
        LocalCommittee.from_dir(prov.bls_dir),
        DEVNET,
        Policy(confirmations=1),
    )
    for _ in range(20):
        settler.tick()
        if journal.locate(planted.request_id) and journal.get(1).state == State.CONFIRMED:
            break
        anvil.mine()
    assert journal.get(1).state == State.CONFIRMED
    [settled] = settlement.events.BatchSettled().get_logs(from_block=0)
    assert settled["args"]["count"] == 1  # the wrong receipt is paid for on L1

    executed = types_pb2.ExecutedReceipt(receipt=planted, request=request, output=lie.to_json())
    prover = ReceiptProver(artifacts.load(artifacts.MLP), {model.commitment_bytes(): model})
    with pytest.raises(OutputFault) as fault:
        prover.prove(executed)
    record = fault.value.record

    nodes = prov.manifest.contract(w3, "NodeRegistry")
    operator = Account.from_key((prov.dir / "keys" / "operator.key").read_text().strip()).address
    stake = nodes.functions.node(operator).call()[0]
    outcome = Challenger(chain, poll_s=0.05).challenge(record)
    slashed, _ = DEVNET.slash_amount("zk_output", stake)
    assert outcome.kind == "slashed" and outcome.slashed == slashed
    assert nodes.functions.node(operator).call()[0] == stake - slashed and not nodes.functions.isActive(operator).call()
    settler_address = Account.from_key(settler_key).address
    assert (
        settlement.functions.credits(settler_address).call()
        >= outcome.reward
        == DEVNET.slash_amount("zk_output", stake)[1]
    )
