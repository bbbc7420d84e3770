"""Batches built from the queue settle on anvil in order, once, with the right debits and credits."""

from __future__ import annotations

import redis
from ax0n_settler.chain import SettlementChain, abi
from ax0n_settler.journal import Journal, State
from ax0n_settler.settler import Policy, Settler
from ax0n_tools.devnet.anvil import Anvil, DevAccount

from ax0n.chain.contracts import Signer
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import validator_payout
from tests.settler.helpers import Deployment, NoProof, enqueue, finalized


def make_settler(d: Deployment, journal: Journal, **kw: object) -> Settler:
    chain = SettlementChain(d.w3, d.settlement, d.settler.key)
    return Settler(
        journal,
        chain,
        NoProof(),
        d.committee,
        DEVNET,
        kw.pop("policy", Policy(confirmations=2)),
        **kw,
    )  # type: ignore[arg-type]


def test_batches_settle_in_order_and_once(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(20)]
    enqueue(rclient, journal, finals + finals[:3])  # a retried publish: duplicates
    settler = make_settler(d, journal)
    for _ in range(40):
        settler.tick()
        anvil.mine()
        if not journal.open_batches() and not journal.pending(100):
            break
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    assert contract.functions.lastBatchId().call() == 2
    events = contract.events.BatchSettled().get_logs(from_block=0)
    assert [e["args"]["batchId"] for e in events] == [1, 2]
    assert sum(e["args"]["count"] for e in events) == 20
    fees = sum(int(f.receipt.fee) for f in finals)
    assert sum(e["args"]["totalFee"] for e in events) == fees
    for f in finals:
        seq, index = journal.locate(f.receipt.request_id)
        rec = journal.get(seq)
        assert rec.state == State.CONFIRMED and rec.leaves[index].request_id == f.receipt.request_id
    assert {journal.locate(f.receipt.request_id)[0] for f in finals} == {1, 2}


def test_credits_follow_the_registry_and_unknown_signers_are_rejected(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 3 // 2]) for i in range(7)]
    stranger = finalized(d, 100, anvil.accounts[9], d.clients[0])  # signed by a key no operator registered
    enqueue(rclient, journal, [*finals[:3], stranger, *finals[3:]])
    settler = make_settler(d, journal)
    for _ in range(5):
        settler.tick()
        anvil.mine()
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    assert contract.functions.lastBatchId().call() == 1
    [(_, fields)] = rclient.xrange(f"{journal.p}:rejected")
    assert b"no single active operator" in fields[b"reason"]
    assert journal.locate(stranger.receipt.request_id) is None

    fees = [int(f.receipt.fee) for f in finals]
    op_fee = [fee * DEVNET.operator_fee_share_bps // 10_000 for fee in fees]  # floored per receipt (the circuit)
    val_fee = [fee * DEVNET.validator_fee_share_bps // 10_000 for fee in fees]
    per_op = [sum(op_fee[k::2]) for k in (0, 1)]  # receipt i was signed by operator i % 2's key
    [settled] = contract.events.BatchSettled().get_logs(from_block=0)
    assert settled["args"]["validators"] == sum(val_fee)  # held for the signers to claim
    for v in d.validators:  # every validator signed (equal stakes): each claims a third, floored
        Signer.from_key(d.w3, v.key).transact(contract.functions.claimValidatorFees(1, []))
    stake = DEVNET.min_node_stake
    per_signer = validator_payout(sum(val_fee), stake, settled["args"]["signedStake"])
    assert settled["args"]["signedStake"] == len(d.validators) * stake
    for k, op in enumerate(d.operators):  # operators are validators too here
        assert contract.functions.credits(op.address).call() == per_op[k] + per_signer
    assert contract.functions.credits(d.validators[2].address).call() == per_signer
    assert contract.functions.credits(d.signers[1].address).call() == 0  # the operator is paid, not its key
    assert contract.functions.credits(d.treasury).call() == sum(fees) - sum(op_fee) - sum(val_fee)
    assert contract.functions.totalValidatorPool().call() == sum(val_fee) - per_signer * len(d.validators)
    for client in d.clients:
        paid = sum(int(f.receipt.fee) for f in finals if f.receipt.client == bytes.fromhex(client.address[2:]))
        assert contract.functions.escrow(client.address).call() == 1_000 * 10**18 - paid


def withdraw_escrow(anvil: Anvil, d: Deployment, client: DevAccount, amount: int) -> None:
    """Take `amount` of `client`'s escrow out: request it, wait out the lock (node_epoch_length), complete it."""
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    as_client = Signer.from_key(d.w3, client.key)
    as_client.transact(contract.functions.requestEscrowWithdrawal(amount))
    anvil.mine(contract.functions.escrowLockBlocks().call())
    as_client.transact(contract.functions.withdrawEscrow())


def test_receipts_settlement_would_refuse_are_dropped_and_the_rest_settles(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(8)]
    enqueue(rclient, journal, finals)
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    withdraw_escrow(anvil, d, d.clients[1], 1_000 * 10**18)
    settler = make_settler(d, journal)
    for _ in range(5):
        settler.tick()
        anvil.mine()
    kept, dropped = finals[0::2], finals[1::2]
    assert contract.functions.lastBatchId().call() == 1
    assert [journal.locate(f.receipt.request_id) for f in kept] == [(1, i) for i in range(4)]
    assert all(journal.locate(f.receipt.request_id) is None for f in dropped)
    rejected = rclient.xrange(f"{journal.p}:rejected")
    assert sorted(e[b"request_id"].decode() for _, e in rejected) == sorted(f.receipt.request_id.hex() for f in dropped)
    assert all(b"escrow short" in e[b"reason"] for _, e in rejected)
    paid = sum(int(f.receipt.fee) for f in kept)
    assert contract.functions.escrow(d.clients[0].address).call() == 1_000 * 10**18 - paid
    assert journal.get(1).root == int.from_bytes(contract.functions.batches(1).call()[0], "big")


def test_a_batch_emptied_by_refusals_gives_its_id_to_the_next(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis
) -> None:
    d = deployment
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    withdraw_escrow(anvil, d, d.clients[1], 1_000 * 10**18)
    refused = [finalized(d, i, d.signers[0], d.clients[1]) for i in range(3)]
    enqueue(rclient, journal, refused)
    settler = make_settler(d, journal)
    settler.tick()
    assert journal.get(1) is None and not journal.open_batches()
    assert rclient.xlen(f"{journal.p}:rejected") == 3
    later = [finalized(d, 10 + i, d.signers[1], d.clients[0]) for i in range(3)]
    enqueue(rclient, journal, later)
    for _ in range(4):
        settler.tick()
        anvil.mine()
    assert contract.functions.lastBatchId().call() == 1
    assert [journal.locate(f.receipt.request_id) for f in later] == [(1, 0), (1, 1), (1, 2)]
