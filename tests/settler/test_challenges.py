"""The challenge watcher on real Redis and anvil: the prover's evidence of a wrong zk-tier output slashes the
operator once and rewards the settler's account; what cannot or need not be challenged ends without retries."""

from __future__ import annotations

import asyncio

import pytest
import redis
from ax0n_prover.core import OutputFault, ReceiptProver
from ax0n_settler.chain import SettlementChain
from ax0n_settler.challenges import CHALLENGER_GROUP, Challenger, ChallengeWatcher, Refused
from ax0n_tools.devnet.anvil import Anvil, DevAccount
from prometheus_client import REGISTRY
from web3 import Web3

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, deploy
from ax0n.chain.registration import signing_key_proof
from ax0n.mempool import Mempool
from ax0n.mempool.streams import dead_letter_stream
from ax0n.spec import receipt as receipts
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from ax0n.zk.mlp import Prediction, devnet_model, input_hash, output_hash
from ax0n.zk.poseidon import to_bytes32
from tests.clients import answering, signed_request

FEATURES = [(11 * i) % 29 - 14 for i in range(16)]
MODEL = devnet_model()
OUTCOMES = ("slashed", "already_challenged", "window_closed", "no_operator", "no_committee", "refused")


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("ax0n_settler_challenges_total", {"outcome": outcome}) or 0.0


def executed(key: str, snapshot_block: int, request: int) -> types_pb2.ExecutedReceipt:
    """What a byzantine executor hands the prover: another label than the model computes, signed by `key`, for a
    request its client signed (for the devnet deployment these tests deploy)."""
    truth = MODEL.forward(FEATURES)
    wrong = Prediction((truth.label + 3) % 10, truth.logits)
    req = signed_request("mlp-devnet", str(FEATURES), nonce=request, fee_cap=2000)
    r = types_pb2.Receipt(
        model_commitment=MODEL.commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=to_bytes32(input_hash(FEATURES)),
        output_hash=to_bytes32(output_hash(wrong)),
        fee="1000",
    )
    r = answering(r, req)
    r.route.snapshot_block = snapshot_block
    return types_pb2.ExecutedReceipt(receipt=receipts.sign(r, key), request=req, output=wrong.to_json())


def evidence(item: types_pb2.ExecutedReceipt) -> types_pb2.FaultRecord:
    with pytest.raises(OutputFault) as fault:
        ReceiptProver(artifacts.load(artifacts.MLP), {MODEL.commitment_bytes(): MODEL}).prove(item)
    return fault.value.record


def like(record: types_pb2.FaultRecord, item: types_pb2.ExecutedReceipt) -> types_pb2.FaultRecord:
    """`record`'s counter-proof (it proves the true output for this model and input) against another receipt."""
    out = types_pb2.FaultRecord()
    out.CopyFrom(record)
    out.receipt.CopyFrom(item.receipt)
    return out


def register(w3: Web3, manifest: Manifest, deployer: DevAccount, operator: DevAccount, signing: DevAccount) -> None:
    token, nodes = manifest.contract(w3, "Ax0nToken"), manifest.contract(w3, "NodeRegistry")
    stake = DEVNET.min_node_stake
    Signer.from_key(w3, deployer.key).transact(token.functions.transfer(operator.address, stake))
    op = Signer.from_key(w3, operator.key)
    op.transact(token.functions.approve(nodes.address, stake))
    proof = signing_key_proof(signing.key, op.address, w3.eth.chain_id, nodes.address)
    op.transact(nodes.functions.register(stake, [], "grpc://127.0.0.1:7001", signing.address, "default", proof))


async def test_watcher_slashes_once_and_ends_what_it_cannot_challenge(
    anvil: Anvil, redis_url: str, rclient: redis.Redis
) -> None:
    w3 = anvil.web3
    deployer, settler, op_a, key_a, op_b, key_b, stranger = anvil.accounts[:7]
    manifest = deploy(w3, deployer.key, params=DEVNET)
    register(w3, manifest, deployer, op_a, key_a)
    register(w3, manifest, deployer, op_b, key_b)
    nodes, settlement = manifest.contract(w3, "NodeRegistry"), manifest.contract(w3, "Settlement")
    anvil.mine(DEVNET.slash_window + 1)  # so that a receipt routed at block 1 is past its challenge window
    head = w3.eth.block_number

    good = evidence(executed(key_a.key, head, request=1))
    bad_proof = like(good, executed(key_b.key, head, request=2))
    bad_proof.counter_proof.envelope = bytes(b ^ 1 if i == 40 else b for i, b in enumerate(good.counter_proof.envelope))
    unsigned = like(good, executed(key_a.key, head, request=3))
    unsigned.receipt.signature = b""
    certified = executed(key_b.key, head, request=4).receipt
    quorum = types_pb2.FaultRecord(  # its certificate's signatures are never read: no committee is configured
        receipt=certified,
        certificate=types_pb2.QuorumCertificate(
            request_id=certified.request_id,
            receipt_hash=receipts.receipt_hash(certified),
            verdict=types_pb2.VERDICT_INVALID,
        ),
        reason="fingerprint outside tolerance",
    )
    records = {
        "good": good,
        "again": good,  # the same evidence under another key: Settlement slashes a receipt once
        "late": like(good, executed(key_b.key, 1, request=5)),
        "stranger": like(good, executed(stranger.key, head, request=6)),
        "quorum": quorum,
        "bad-proof": bad_proof,
        "unsigned": unsigned,
    }
    stream = f"test:fault:{id(rclient)}"
    pool = Mempool.from_url(redis_url)
    for key, record in records.items():
        await pool.publish(stream, record, key=key)
    before = {o: _count(o) for o in OUTCOMES}
    credits_before = settlement.functions.credits(manifest.treasury).call()
    chain = SettlementChain(w3, settlement.address, settler.key)
    watcher = ChallengeWatcher(
        Mempool.from_url(redis_url), lambda: Challenger(chain, poll_s=0.05), "w1", stream=stream, block_ms=50
    )
    await watcher.start()
    try:
        async with asyncio.timeout(60):
            while await pool.backlog(stream, CHALLENGER_GROUP) or not rclient.xlen(dead_letter_stream(stream)):
                await asyncio.sleep(0.1)
    finally:
        await watcher.stop()
        await pool.close()

    counts = {o: _count(o) - before[o] for o in OUTCOMES}
    assert counts == {
        "slashed": 1,
        "already_challenged": 1,
        "window_closed": 1,
        "no_operator": 1,
        "no_committee": 1,
        "refused": 2,
    }
    dead = {f[b"key"].decode(): f[b"dead_reason"].decode() for _, f in rclient.xrange(dead_letter_stream(stream))}
    assert set(dead) == {"bad-proof", "unsigned"}
    assert "InvalidChallengeProof()" in dead["bad-proof"] and "malformed receipt" in dead["unsigned"]

    [event] = settlement.events.ZkOutputChallenged().get_logs(from_block=0)
    args = event["args"]
    stake = DEVNET.min_node_stake
    slashed, reward = DEVNET.slash_amount("zk_output", stake)
    assert (args["operator"], args["challenger"], args["slashed"]) == (op_a.address, settler.address, slashed)
    assert args["receiptHash"] == receipts.receipt_hash(good.receipt)
    assert nodes.functions.node(op_a.address).call()[0] == stake - slashed
    assert not nodes.functions.isActive(op_a.address).call()
    assert nodes.functions.node(op_b.address).call()[0] == stake  # the bad proof and the late receipt cost nothing
    assert settlement.functions.credits(settler.address).call() == args["reward"] == reward
    assert settlement.functions.credits(manifest.treasury).call() == credits_before + slashed - reward
    tx = w3.eth.get_transaction_receipt(event["transactionHash"])
    assert tx["from"] == settler.address
    print(f"\nchallengeZkOutput gas used: {tx['gasUsed']}")
    # one challenge transaction, after one commitment per record the contract could be asked about (commit-reveal:
    # a challenge is only estimable once its commitment is mined); every refusal was caught by an estimate
    commits = settlement.events.ChallengeCommitted().get_logs(from_block=0)
    assert {c["args"]["committer"] for c in commits} == {settler.address}
    assert w3.eth.get_transaction_count(settler.address) == len(commits) + 1


async def test_unreachable_chain_is_retried_not_dropped(redis_url: str, rclient: redis.Redis) -> None:
    record = evidence(executed("0x" + "4b" * 32, 100, request=7))
    stream = f"test:fault:retry:{id(rclient)}"
    pool = Mempool.from_url(redis_url)
    await pool.publish(stream, record, key="r")
    before = _count("retry")
    down = Web3(Web3.HTTPProvider("http://127.0.0.1:9", request_kwargs={"timeout": 1}))  # nothing listens on 9

    def challenger() -> Challenger:
        return Challenger(SettlementChain(down, "0x" + "11" * 20, "0x" + "22" * 32))

    watcher = ChallengeWatcher(Mempool.from_url(redis_url), challenger, "w1", stream=stream, retry_s=0.3, block_ms=50)
    await watcher.start()
    try:
        async with asyncio.timeout(30):
            while _count("retry") - before < 3:  # delivered again and again while the RPC is down
                await asyncio.sleep(0.1)
    finally:
        await watcher.stop()
        await pool.close()
    [pending] = rclient.xpending_range(stream, CHALLENGER_GROUP, "-", "+", 10)
    assert pending["times_delivered"] >= 3
    assert not rclient.xlen(dead_letter_stream(stream))


def test_equivocation_evidence_slashes_the_operator_once(anvil: Anvil) -> None:
    w3 = anvil.web3
    deployer, settler, operator, signing, stranger = anvil.accounts[:5]
    params = DEVNET.replace(slash_equivocation_bps=5_000)  # half: the operator stays challengeable after
    manifest = deploy(w3, deployer.key, params=params)
    register(w3, manifest, deployer, operator, signing)
    nodes, settlement = manifest.contract(w3, "NodeRegistry"), manifest.contract(w3, "Settlement")
    token, stake = manifest.contract(w3, "Ax0nToken"), DEVNET.min_node_stake
    Signer.from_key(w3, deployer.key).transact(token.functions.transfer(operator.address, stake))
    as_operator = Signer.from_key(w3, operator.key)
    as_operator.transact(token.functions.approve(nodes.address, stake))
    as_operator.transact(nodes.functions.addStake(stake))  # 2 x min: still active after one slash
    first = executed(signing.key, w3.eth.block_number, request=11).receipt
    second = types_pb2.Receipt()
    second.CopyFrom(first)
    second.fee = "999"
    second = receipts.sign(second, signing.key)
    challenger = Challenger(SettlementChain(w3, settlement.address, settler.key), poll_s=0.05)

    with pytest.raises(Refused, match="not an equivocation"):
        challenger.challenge(types_pb2.FaultRecord(receipt=first, conflicting=first))
    with pytest.raises(Refused, match="not an equivocation"):
        challenger.challenge(types_pb2.FaultRecord(receipt=first, conflicting=receipts.sign(second, stranger.key)))
    outcome = challenger.challenge(types_pb2.FaultRecord(receipt=first, conflicting=second, reason="equivocation"))
    assert outcome.kind == "slashed" and outcome.slashed == params.slash_amount("equivocation", 2 * stake)[0]
    [event] = settlement.events.EquivocationChallenged().get_logs(from_block=0)
    assert (event["args"]["operator"], event["args"]["challenger"]) == (operator.address, settler.address)
    assert nodes.functions.node(operator.address).call()[0] == 2 * stake - outcome.slashed
    assert (
        settlement.functions.credits(settler.address).call()
        == outcome.reward
        == params.slash_amount("equivocation", 2 * stake)[1]
    )
    again = challenger.challenge(types_pb2.FaultRecord(receipt=second, conflicting=first))
    assert again.kind == "already_challenged"  # each (operator, request) is slashed once
