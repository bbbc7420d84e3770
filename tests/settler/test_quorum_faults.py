"""Quorum faults on anvil: real validators certify an LLM-tier receipt INVALID, their SignFault servicers (real BLS
keys registered on-chain, in-process gRPC) attest it, and the settler's challenge watcher calls
Settlement.challengeQuorumFault: the operator is slashed once and the settler's account rewarded."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import redis
from ax0n_settler.chain import SettlementChain, abi
from ax0n_settler.challenges import CHALLENGER_GROUP, Challenger, ChallengeWatcher
from ax0n_settler.committee import ValidatorCommittee
from ax0n_tools.devnet.anvil import Anvil
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.checks import MemberChecks, answers_check, receipt_signature, route_check
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import SnapshotDir
from ax0n_validator.server import CommitteeSigner, ValidatorServicer, ValidatorSettings
from prometheus_client import REGISTRY
from web3 import Web3

from ax0n.chain.contracts import Signer
from ax0n.mempool import Mempool
from ax0n.mempool.streams import dead_letter_stream
from ax0n.spec import answers, bls, routing
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2, validator_pb2_grpc
from tests.settler.helpers import Deployment

CHAIN_ID = 31337
MODEL = "llm-test"
NODE_ID = hashlib.sha256(b"operator 0's node").digest()
OUTCOMES = ("slashed", "already_challenged", "window_closed", "refused", "no_operator", "retry")


def _count(outcome: str) -> float:
    return REGISTRY.get_sample_value("ax0n_settler_challenges_total", {"outcome": outcome}) or 0.0


def write_snapshot(d: Deployment, directory: Path) -> int:
    """The validators' registry snapshot file at the current block: the registered validator keys and addresses,
    and one routed node, operator 0's, whose registered signing key is d.signers[0]."""
    block = d.w3.eth.block_number
    block_hash = bytes(d.w3.eth.get_block(block)["hash"])
    stats = routing.NodeStats(uptime_bps=10_000, p95_latency_ms=100, samples=10)
    operator = bytes.fromhex(d.operators[0].address[2:])
    node = routing.Node(NODE_ID, operator, DEVNET.min_node_stake, "default", (MODEL,), stats)
    validators = [
        {
            "pubkey": bls.public_key(sk).hex(),
            "stake": str(DEVNET.min_node_stake),
            "pop": bls.prove_possession(sk).hex(),
            "address": address,
        }
        for address, sk in d.validator_keys.items()
    ]
    doc = {
        "block": block,
        "block_hash": block_hash.hex(),
        "validators": validators,
        "node_signers": {NODE_ID.hex(): d.signers[0].address[2:].lower()},
        "routing": json.loads(routing.Snapshot(block, block_hash, (node,)).to_json()),
    }
    (directory / f"{block}.json").write_text(json.dumps(doc))
    return block


def served_another_model(d: Deployment, snapshots: SnapshotDir, block: int, tag: str) -> types_pb2.ProvedReceipt:
    """An LLM-tier receipt, routed right and signed by the node's registered key, for a request that named another
    model than the one the node served."""
    request_id = Web3.keccak(text=tag)
    index = snapshots.routing_index(block)
    assert index is not None
    chosen = routing.route(index, request_id, MODEL, 0)
    route = types_pb2.RouteDecision(
        request_id=request_id,
        cluster_id=chosen.cluster,
        node_id=chosen.node_id,
        snapshot_block=block,
        snapshot_hash=index.snapshot_hash,
    )
    receipt = types_pb2.Receipt(
        chain_id=CHAIN_ID,
        settlement=bytes.fromhex(d.settlement[2:]),  # signed for this test's Settlement: it re-checks the signature
        request_id=request_id,
        model_id=MODEL,
        model_commitment=Web3.keccak(text="weights"),
        tier=types_pb2.TIER_LLM,
        input_hash=Web3.keccak(text=f"in {tag}"),
        output_hash=Web3.keccak(text=f"out {tag}"),
        route=route,
        fee="1000",
        fee_cap="2000",
        client=bytes.fromhex(d.clients[0].address[2:]),
    )
    request = types_pb2.InferenceRequest(request_id=request_id, model_id="the model the client asked for")
    return types_pb2.ProvedReceipt(receipt=receipts.sign(receipt, d.signers[0].key), request=request, output="out")


async def certified_invalid(
    keystores: list[Keystore], quorums: Quorums, checks: MemberChecks, item: types_pb2.ProvedReceipt
) -> types_pb2.FaultRecord:
    """The aggregator's FaultRecord once every validator attested (each with its own key and real checks)."""
    aggregator = Aggregator(quorums, receipts.receipt_hash, CHAIN_ID)
    aggregator.add_receipt(item)
    outcomes = []
    for keys in keystores:
        client = ValidatorClient(keys, quorums, checks, receipts.receipt_hash, CHAIN_ID)
        outcomes += [aggregator.add_attestation(a) for a in await client.on_proved(item)]
    [record] = [o for o in outcomes if o is not None]
    assert isinstance(record, types_pb2.FaultRecord) and record.certificate.verdict == qc.INVALID
    assert not record.HasField("counter_proof") and not record.HasField("conflicting")
    return record


@pytest.fixture
async def validators(deployment: Deployment, tmp_path: Path) -> AsyncIterator[tuple[list[str], SnapshotDir, int]]:
    """One ax0n-validator servicer per registered validator key (in-process gRPC), over a fresh snapshot file:
    (their targets, the snapshots, the snapshot block)."""
    block = write_snapshot(deployment, tmp_path)
    snapshots = SnapshotDir(tmp_path)
    quorums = Quorums(snapshots.validator_set, DEVNET)
    settings = ValidatorSettings(chain_id=CHAIN_ID, profile="devnet", allowed_callers=deployment.settler.address)
    servers, targets = [], []
    for sk in deployment.validator_keys.values():
        signer = CommitteeSigner(
            Keystore([sk]), snapshots, quorums, answers.Deployment.of(CHAIN_ID, deployment.settlement)
        )
        server = grpc.aio.server()
        validator_pb2_grpc.add_ValidatorServicer_to_server(ValidatorServicer(settings, 1, None, signer), server)
        targets.append(f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}")
        await server.start()
        servers.append(server)
    yield targets, snapshots, block
    for server in servers:
        await server.stop(None)


async def test_quorum_fault_slashes_the_operator_once(
    anvil: Anvil,
    deployment: Deployment,
    validators: tuple[list[str], SnapshotDir, int],
    redis_url: str,
    rclient: redis.Redis,
) -> None:
    d, w3 = deployment, deployment.w3
    targets, snapshots, block = validators
    quorums = Quorums(snapshots.validator_set, DEVNET)
    checks = MemberChecks(
        receipt_signature,
        route_check(snapshots.routing_index, snapshots.node_signer),
        answers_check(snapshots.model, DEVNET, answers.Deployment.of(CHAIN_ID, d.settlement)),
    )
    keystores = [Keystore([sk]) for sk in d.validator_keys.values()]
    fault = await certified_invalid(keystores, quorums, checks, served_another_model(d, snapshots, block, "fault"))
    late = await certified_invalid(keystores, quorums, checks, served_another_model(d, snapshots, block, "late"))
    forged = types_pb2.FaultRecord()
    forged.CopyFrom(late)
    forged.certificate.aggregate_signature = fault.certificate.aggregate_signature  # another receipt's signatures

    chain = SettlementChain(w3, d.settlement, d.settler.key)
    settlement, nodes = chain.contract, chain.nodes
    operator, stake = d.operators[0].address, DEVNET.min_node_stake
    token = w3.eth.contract(d.token, abi=abi("Ax0nToken"))
    Signer.from_key(w3, d.deployer.key).transact(token.functions.transfer(operator, stake))
    as_operator = Signer.from_key(w3, d.operators[0].key)
    as_operator.transact(token.functions.approve(nodes.address, stake))
    as_operator.transact(nodes.functions.addStake(stake))  # 2 x min: still active (challengeable) after one slash
    no_committee = Challenger(chain).challenge(fault)
    assert no_committee.kind == "no_committee" and "validator_targets" in no_committee.detail  # said, not dropped

    stream = f"test:fault:quorum:{id(rclient)}"
    pool = Mempool.from_url(redis_url)
    before = {o: _count(o) for o in OUTCOMES}
    treasury_before = settlement.functions.credits(d.treasury).call()

    async def drain(records: dict[str, types_pb2.FaultRecord]) -> None:
        for key, record in records.items():
            await pool.publish(stream, record, key=key)
        committee = ValidatorCommittee(targets, d.settler.key, timeout_s=10)
        watcher = ChallengeWatcher(
            Mempool.from_url(redis_url),
            lambda: Challenger(chain, committee, poll_s=0.05),
            "w1",
            stream=stream,
            block_ms=50,
        )
        await watcher.start()
        try:
            async with asyncio.timeout(60):
                while await pool.backlog(stream, CHALLENGER_GROUP):
                    await asyncio.sleep(0.1)
        finally:
            await watcher.stop()

    try:
        await drain({"fault": fault, "again": fault, "forged": forged})
        anvil.mine(DEVNET.slash_window + 1)  # `late` was certified at the same snapshot: its window has closed
        await drain({"late": late})
    finally:
        await pool.close()

    counts = {o: _count(o) - before[o] for o in OUTCOMES}
    assert counts == {
        "slashed": 1,
        "already_challenged": 1,
        "window_closed": 1,
        "refused": 1,
        "no_operator": 0,
        "retry": 0,
    }
    dead = {f[b"key"].decode(): f[b"dead_reason"].decode() for _, f in rclient.xrange(dead_letter_stream(stream))}
    assert set(dead) == {"forged"} and "INVALID_ARGUMENT" in dead["forged"] and "certificate" in dead["forged"]

    [event] = settlement.events.QuorumFaultChallenged().get_logs(from_block=0)
    args = event["args"]
    slashed, reward = DEVNET.slash_amount("quorum_fault", 2 * stake)  # staked twice min_node_stake
    assert (args["operator"], args["challenger"], args["slashed"]) == (operator, d.settler.address, slashed)
    assert args["receiptHash"] == receipts.receipt_hash(fault.receipt)
    assert settlement.functions.challenged(args["receiptHash"]).call()
    assert nodes.functions.node(operator).call()[0] == 2 * stake - slashed  # one slash, of two attempts
    assert settlement.functions.credits(d.settler.address).call() == args["reward"] == reward
    assert settlement.functions.credits(d.treasury).call() == treasury_before + slashed - reward
    tx = w3.eth.get_transaction_receipt(event["transactionHash"])
    assert tx["from"] == d.settler.address
    print(f"\nchallengeQuorumFault gas used ({len(targets)}-member committee): {tx['gasUsed']}")


def test_fault_signing_root_matches_settlement(deployment: Deployment) -> None:
    settlement = SettlementChain(deployment.w3, deployment.settlement, deployment.settler.key).contract
    for i in range(3):
        digest = hashlib.sha256(b"receipt %d" % i).digest()
        assert settlement.functions.faultSigningRoot(digest).call() == qc.fault_signing_root(digest, CHAIN_ID)
        # the domains keep the two messages apart even for the same 32 bytes
        assert settlement.functions.batchSigningRoot(i, digest).call() != qc.fault_signing_root(digest, CHAIN_ID)
