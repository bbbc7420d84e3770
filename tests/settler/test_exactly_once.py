"""Exactly once on a real anvil and redis-server: crashes at every step, dropped and replaced transactions,
stuck transactions (fee bumps) and reorgs never settle a receipt twice and never lose one."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from ax0n_settler.chain import abi
from ax0n_settler.committee import LocalCommittee
from ax0n_settler.journal import Journal, State
from ax0n_settler.settler import ConflictingBatch, Policy, Settler
from ax0n_tools.devnet.anvil import Anvil

from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import bls
from ax0n.spec.params import DEVNET
from tests.settler.helpers import Deployment, deploy, enqueue, finalized
from tests.settler.test_settle import make_settler

CRASH_POINTS = ["built", "proved", "signed", "recorded", "broadcast", "receipt", "confirmed"]


class Crash(Exception):
    """The settler process dies here."""


def crash_at(point: str | None):
    def hook(where: str, seq: int) -> None:
        if point is not None and where == point:
            raise Crash(f"{point} (batch {seq})")

    return hook


def run_until_settled(anvil: Anvil, journal: Journal, make, ticks: int = 60) -> int:
    """Tick fresh settlers (each made by `make()`) until the queue is settled; a Crash means a restart."""
    crashes = 0
    settler: Settler = make(crashes)
    for _ in range(ticks):
        try:
            settler.tick()
        except Crash:
            crashes += 1
            settler = make(crashes)
            continue
        anvil.mine()
        if not journal.open_batches() and not journal.pending(1_000):
            return crashes
    raise AssertionError("not settled")


def assert_settled_once(d: Deployment, journal: Journal, finals: list, batches: int) -> None:
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    events = contract.events.BatchSettled().get_logs(from_block=0)
    assert [e["args"]["batchId"] for e in events] == list(range(1, batches + 1))
    assert sum(e["args"]["count"] for e in events) == len(finals)
    assert sum(e["args"]["totalFee"] for e in events) == sum(int(f.receipt.fee) for f in finals)
    seen = set()
    for f in finals:
        seq, index = journal.locate(f.receipt.request_id)
        rec = journal.get(seq)
        assert rec.state == State.CONFIRMED and rec.leaves[index].request_id == f.receipt.request_id
        assert int.from_bytes(contract.functions.batches(seq).call()[0], "big") == rec.root
        seen.add(f.receipt.request_id)
    assert len(seen) == len(finals)
    leaves = [leaf.request_id for s in range(1, batches + 1) for leaf in journal.get(s).leaves]
    assert len(leaves) == len(set(leaves)) == len(finals)


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_each_step_settles_every_receipt_once(
    point: str, anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(20)]
    enqueue(rclient, journal, finals[:12])
    # restarts 0..2 crash at `point` the first time they reach it; later ones run clean
    crashes = run_until_settled(
        anvil, journal, lambda n: make_settler(d, journal, crash=crash_at(point if n < 3 else None))
    )
    enqueue(rclient, journal, finals[12:] + finals[:4])  # more work, and duplicates of settled receipts
    crashes += run_until_settled(
        anvil, journal, lambda n: make_settler(d, journal, crash=crash_at(point if n < 1 else None))
    )
    assert crashes >= 2
    assert_settled_once(d, journal, finals, batches=2)
    # one transaction per batch: recovery re-broadcast the recorded bytes, never a second submission
    assert d.w3.eth.get_transaction_count(d.settler.address) == 2


def test_reorg_drops_settled_batches_and_they_are_sent_again(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(20)]
    enqueue(rclient, journal, finals)
    snapshot = d.w3.provider.make_request("evm_snapshot", [])["result"]
    run_until_settled(anvil, journal, lambda n: make_settler(d, journal))
    first = {s: journal.get(s).tx_hash for s in (1, 2)}
    d.w3.provider.make_request("evm_revert", [snapshot])  # both settling blocks fall out of the chain
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    assert contract.functions.lastBatchId().call() == 0
    settler = make_settler(d, journal)
    settler.tick()
    assert {journal.get(s).state for s in (1, 2)} <= {State.SENT, State.MINED}
    run_until_settled(anvil, journal, lambda n: settler)
    assert_settled_once(d, journal, finals, batches=2)
    assert {s: journal.get(s).tx_hash for s in (1, 2)} == first  # the same signed transactions went out again


def test_stuck_transaction_is_replaced_with_higher_fees(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[0], d.clients[0]) for i in range(3)]
    enqueue(rclient, journal, finals)
    d.w3.provider.make_request("evm_setAutomine", [False])
    settler = make_settler(d, journal, policy=Policy(confirmations=1, bump_after_s=0.0))
    settler.tick()  # sent, not mined
    settler.tick()  # still unmined: replaced
    rec = journal.get(1)
    assert rec.state == State.SENT and len(rec.txs) == 2
    assert rec.txs[0].nonce == rec.txs[1].nonce
    assert rec.txs[1].max_fee > rec.txs[0].max_fee * 1.1 and rec.txs[1].tip > rec.txs[0].tip * 1.1
    anvil.mine()
    settler.tick()
    rec = journal.get(1)
    assert rec.state == State.CONFIRMED and rec.tx_hash == rec.txs[1].hash
    assert d.w3.eth.get_transaction_count(d.settler.address) == 1
    assert_settled_once(d, journal, finals, batches=1)


def test_nonce_taken_by_another_transaction_is_sent_again(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[1], d.clients[1]) for i in range(3)]
    enqueue(rclient, journal, finals)
    d.w3.provider.make_request("evm_setAutomine", [False])
    settler = make_settler(d, journal, policy=Policy(confirmations=1))
    settler.tick()
    sent = journal.get(1).txs[0]
    # an operator using the same key elsewhere spends the nonce first, outbidding the batch
    from eth_account import Account

    other = Account.from_key(d.settler.key).sign_transaction(
        {
            "to": d.deployer.address,
            "value": 1,
            "nonce": sent.nonce,
            "gas": 21_000,
            "maxFeePerGas": sent.max_fee * 2,
            "maxPriorityFeePerGas": sent.tip * 2,
            "chainId": d.w3.eth.chain_id,
        }
    )
    d.w3.eth.send_raw_transaction(other.raw_transaction)
    anvil.mine()
    assert d.w3.eth.get_transaction_receipt(other.hash)["status"] == 1
    d.w3.provider.make_request("evm_setAutomine", [True])
    run_until_settled(anvil, journal, lambda n: settler)
    rec = journal.get(1)
    assert rec.txs[0].nonce == sent.nonce + 1
    assert_settled_once(d, journal, finals, batches=1)


def test_anvil_restart_from_older_state_resends_lost_batches(
    tmp_path: Path, journal: Journal, rclient: redis.Redis
) -> None:
    state = tmp_path / "anvil-state.json"
    with Anvil(extra_args=("--dump-state", str(state))) as first:
        d = deploy(first)  # contracts, stakes and escrow: dumped when this anvil stops
        finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(20)]
    enqueue(rclient, journal, finals)
    second = Anvil(extra_args=("--load-state", str(state))).start()
    try:
        d.w3 = second.web3
        run_until_settled(second, journal, lambda n: make_settler(d, journal))
        sent = {s: journal.get(s).tx_hash for s in (1, 2)}
    finally:
        second.proc.kill()  # a crash: nothing after the dump survives
        second.proc.wait()
    with Anvil(extra_args=("--load-state", str(state))) as third:
        d.w3 = third.web3
        assert d.w3.eth.contract(d.settlement, abi=abi("Settlement")).functions.lastBatchId().call() == 0
        run_until_settled(third, journal, lambda n: make_settler(d, journal))
        assert_settled_once(d, journal, finals, batches=2)
        assert {s: journal.get(s).tx_hash for s in (1, 2)} == sent


def test_certificate_whose_reference_block_aged_out_is_replaced(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(5)]
    enqueue(rclient, journal, finals)
    with pytest.raises(Crash):
        make_settler(d, journal, crash=crash_at("signed")).tick()
    first = journal.get(1).cert
    assert first is not None and first[1] == []  # every validator signed: no non-signers
    # a fourth validator registering changes nothing: a stake certificate names its reference block's set
    newcomer, stake = anvil.accounts[9], DEVNET.min_node_stake
    nodes = d.w3.eth.contract(d.nodes, abi=abi("NodeRegistry"))
    token = d.w3.eth.contract(d.token, abi=abi("Ax0nToken"))
    Signer.from_key(d.w3, d.deployer.key).transact(token.functions.transfer(newcomer.address, stake))
    as_new = Signer.from_key(d.w3, newcomer.key)
    as_new.transact(token.functions.approve(d.nodes, stake))
    proof = signing_key_proof(newcomer.key, newcomer.address, d.w3.eth.chain_id, d.nodes)
    as_new.transact(nodes.functions.register(stake, [], "grpc://node:7009", newcomer.address, "default", proof))
    sk = bls.keygen(b"newcomer".ljust(32, b"\0"))
    pk, pop = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.prove_possession(sk))
    as_new.transact(nodes.functions.registerValidatorKey(pk, pop))
    # but one older than node_epoch_length is refused, and the settler certifies the batch again at a newer block
    anvil.mine(DEVNET.node_epoch_length + 1)
    d.committee = LocalCommittee({**d.validator_keys, newcomer.address: sk}, head=lambda: d.w3.eth.block_number)
    run_until_settled(anvil, journal, lambda n: make_settler(d, journal))
    second = journal.get(1).cert
    assert second is not None and second[0] > first[0] + DEVNET.node_epoch_length - 16
    assert_settled_once(d, journal, finals, batches=1)
    assert d.w3.eth.get_transaction_count(d.settler.address) == 1


def test_a_batch_settled_with_another_root_stops_the_settler(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    other = Journal(rclient, journal.p + ":other")  # a second journal wrongly driving the same account
    enqueue(rclient, other, [finalized(d, i, d.signers[0], d.clients[0]) for i in range(3)])
    run_until_settled(anvil, other, lambda n: make_settler(d, other))
    enqueue(rclient, journal, [finalized(d, 100 + i, d.signers[1], d.clients[1]) for i in range(3)])
    settler = make_settler(d, journal)  # starts at seq 2 (lastBatchId + 1): no clash yet
    journal.r.set(f"{journal.p}:next_seq", 1)  # a journal that lost track of the chain
    anvil.mine(DEVNET.settlement_frequency)  # the next batch is due
    with pytest.raises(ConflictingBatch):
        settler.tick()
    assert d.w3.eth.get_transaction_count(d.settler.address) == 1  # nothing was sent for the clashing batch


def test_a_batch_found_settled_is_adopted_and_resent_after_a_reorg(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(4)]
    enqueue(rclient, journal, finals)
    snapshot = d.w3.provider.make_request("evm_snapshot", [])["result"]
    run_until_settled(anvil, journal, lambda n: make_settler(d, journal))
    sent = journal.get(1).tx_hash
    journal.reopen(1)  # the journal forgot its transaction (back to `signed`, none recorded)
    settler = make_settler(d, journal)
    settler.tick()
    rec = journal.get(1)
    assert rec.state in (State.MINED, State.CONFIRMED) and rec.tx_hash == sent and not rec.txs  # adopted
    d.w3.provider.make_request("evm_revert", [snapshot])
    run_until_settled(anvil, journal, lambda n: settler)
    assert_settled_once(d, journal, finals, batches=1)
    assert journal.get(1).tx_hash != sent  # a new transaction, since none of its own was recorded
