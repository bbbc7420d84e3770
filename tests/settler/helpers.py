"""Settler test helpers: deploy the protocol on anvil from the Foundry build, and make finalized receipts.

The batch committee is real: three staked nodes register BLS validator keys (with proofs of possession) and
`LocalCommittee` signs each batch with them; Settlement checks the aggregate with the EIP-2537 precompiles.
By default Settlement is deployed with UNCHECKED_VERIFIER, a 10-byte contract whose verifyProof returns true
for any input, and batches carry NoProof's zero bytes: a real batch proof takes seconds, and the tests using
this exercise the journal, nonces, fees, confirmations and reorgs, not the proof check. `deploy(chain,
verifier="Batch16Verifier")` deploys the generated Groth16 verifier instead (test_batch_proof.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis
from ax0n_settler import intake
from ax0n_settler.chain import abi
from ax0n_settler.committee import LocalCommittee
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil, DevAccount
from web3 import Web3

from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import ONCHAIN_PARAMS, param_name
from ax0n.chain.registration import signing_key_proof
from ax0n.chain.snapshot import ValidatorSetReader, read_validators
from ax0n.mempool import entry
from ax0n.spec import answers, bls, finality
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.params import DEVNET, TOKEN
from ax0n.v1 import types_pb2

# init code that deploys runtime 0x600160005260206000f3: mstore(0, 1); return(0, 32)
UNCHECKED_VERIFIER = "0x600a600c600039600a6000f3600160005260206000f3"


@dataclass
class Deployment:
    w3: Web3
    settlement: str
    token: str
    nodes: str
    deployer: DevAccount
    settler: DevAccount
    operators: list[DevAccount]
    signers: list[DevAccount]  # receipt signing key of each operator (operator 1 uses a separate key)
    clients: list[DevAccount]
    validators: list[DevAccount]  # staked nodes with registered BLS keys: the batch committee
    treasury: str
    committee: LocalCommittee  # every registered validator key, held here to sign as the batch committee
    validator_keys: dict[str, bls.SecretKey]
    snapshot_block: int  # a block where every validator is registered: the receipts' routing snapshot


def deploy(chain: Anvil, *, frequency: int = DEVNET.settlement_frequency, verifier: str = "") -> Deployment:
    """Token, params (devnet values), node registry and Settlement (with the named verifier, or else
    UNCHECKED_VERIFIER); two registered operators, two funded clients, three validators with BLS keys."""
    w3 = chain.web3
    accts = chain.accounts
    deployer, settler = accts[0], accts[1]
    operators, clients = accts[2:4], accts[4:6]
    treasury = accts[7].address
    p = DEVNET.replace(settlement_frequency=frequency).as_dict()
    signer = Signer.from_key(w3, deployer.key)
    token = signer.deploy("Ax0nToken", deployer.address, deployer.address, deployer.address, treasury)
    names = [param_name(n) for n in ONCHAIN_PARAMS]
    params = signer.deploy("ProtocolParams", deployer.address, names, [p[n] for n in ONCHAIN_PARAMS])
    nodes = signer.deploy("NodeRegistry", token.address, params.address)
    if verifier:  # a generated Groth16 verifier, e.g. "Batch16Verifier" (`make artifacts`)
        verifier_address = signer.deploy(verifier, source=verifier).address
    else:
        verifier_address = w3.eth.wait_for_transaction_receipt(
            w3.eth.send_transaction({"from": deployer.address, "data": UNCHECKED_VERIFIER})
        )["contractAddress"]
    settlement = signer.deploy("Settlement", token.address, nodes.address, params.address, verifier_address, treasury)
    signer.transact(nodes.functions.setSettlement(settlement.address))
    signers = [operators[0], accts[8]]
    stake = p["min_node_stake"]
    validators = [*operators, accts[6]]  # staked nodes that also register BLS validator keys
    for op, key in zip(validators, [*signers, accts[6]], strict=True):
        signer.transact(token.functions.transfer(op.address, stake))
        as_op = Signer.from_key(w3, op.key)
        as_op.transact(token.functions.approve(nodes.address, stake))
        proof = signing_key_proof(key.key, op.address, w3.eth.chain_id, nodes.address)
        as_op.transact(nodes.functions.register(stake, [], "grpc://node:7001", key.address, "default", proof))
    committee = {v.address: bls.keygen(f"validator {v.address}".encode().ljust(32, b"\0")) for v in validators}
    for v in validators:
        sk = committee[v.address]
        pop = g2_uncompressed(bls.prove_possession(sk))
        Signer.from_key(w3, v.key).transact(
            nodes.functions.registerValidatorKey(g1_uncompressed(bls.public_key(sk)), pop)
        )
    for client in clients:
        signer.transact(token.functions.transfer(client.address, 1_000 * TOKEN))
        as_client = Signer.from_key(w3, client.key)
        as_client.transact(token.functions.approve(settlement.address, 1_000 * TOKEN))
        as_client.transact(settlement.functions.deposit(1_000 * TOKEN))
    d = Deployment(
        w3,
        settlement.address,
        token.address,
        nodes.address,
        deployer,
        settler,
        list(operators),
        signers,
        list(clients),
        validators,
        treasury,
        LocalCommittee(committee),
        committee,
        w3.eth.block_number,
    )
    d.committee.head = lambda: d.w3.eth.block_number  # the chain the deployment is on now (tests swap anvils)
    return d


def finalized(
    d: Deployment, i: int, signer: DevAccount, client: DevAccount, *, fee: int = 0, chain_id: int = 31337
) -> types_pb2.FinalizedReceipt:
    """A final result for request i: the request signed by `client`, a receipt answering it signed by `signer`,
    and a real VALID certificate of the request's quorum drawn from the deployment's validators at its snapshot
    (the settler verifies both before it batches, ax0n.spec.finality)."""
    req = requests.sign(
        types_pb2.InferenceRequest(
            model_id="mlp", prompt=f"in {i}", max_tokens=1, max_latency_ms=60_000, fee_cap=str(10**16), nonce=i,
            deadline=4_102_444_800, chain_id=chain_id, settlement=bytes.fromhex(d.settlement[2:]),
        ),
        client.key,
    )  # fmt: skip
    r = types_pb2.Receipt(
        request_id=req.request_id,
        model_id="mlp",
        model_commitment=Web3.keccak(text="model"),
        tier=types_pb2.TIER_ZK,
        input_hash=Web3.keccak(text=f"in {i}"),
        output_hash=Web3.keccak(text=f"out {i}"),
        route=types_pb2.RouteDecision(request_id=req.request_id, snapshot_block=d.snapshot_block),
        fee=str(fee or (10**15 + 7 * i)),
        client=req.client,
        fee_cap=req.fee_cap,
        chain_id=chain_id,
        settlement=req.settlement,
    )
    r = receipts.sign(r, signer.key)
    return types_pb2.FinalizedReceipt(receipt=r, certificate=certify(d, r), output=f"out {i}", request=req)


def intake_check(d: Deployment) -> intake.FinalCheck:
    """The settler intake's check (ax0n.spec.finality) against the deployment's registry."""
    sets = ValidatorSetReader(d.w3, d.w3.eth.contract(d.nodes, abi=abi("NodeRegistry")))
    deployment = answers.Deployment.of(d.w3.eth.chain_id, d.settlement)
    return lambda final: finality.final_fault(final, sets, deployment, DEVNET)


def certify(d: Deployment, r: types_pb2.Receipt) -> types_pb2.QuorumCertificate:
    """The deployment's validators' VALID certificate of `r`, as its quorum at the route's snapshot signs it."""
    block_hash, validators = read_validators(
        d.w3, d.w3.eth.contract(d.nodes, abi=abi("NodeRegistry")), r.route.snapshot_block
    )
    quorum, _ = qc.draw_request_quorum(
        validators, r.route.snapshot_block, block_hash, bytes(r.request_id), DEVNET.validator_quorum_size
    )
    by_key = {bls.public_key(sk): sk for sk in d.validator_keys.values()}
    message = qc.attestation_signing_root(
        bytes(r.request_id), receipts.receipt_hash(r), qc.VALID, quorum.snapshot_block, r.chain_id
    )
    signatures = {s: bls.sign(by_key[pk], message) for s, pk in enumerate(quorum.pubkeys)}
    cert = qc.form_certificate(quorum, bytes(r.request_id), receipts.receipt_hash(r), qc.VALID, r.chain_id, signatures)
    assert cert is not None
    return cert


class NoProof:
    """For the UNCHECKED_VERIFIER deployment only: 288 zero bytes, which no real verifier accepts."""

    circuit_id = "none (unchecked test verifier)"

    def prove(self, plan: object) -> bytes:
        return bytes(288)


def enqueue(client: redis.Redis, journal: Journal, finals: list[types_pb2.FinalizedReceipt]) -> None:
    """Append receipts to the journal queue as the intake consumer does."""
    for final in finals:
        client.xadd(journal.queue, entry.encode(final, final.receipt.request_id.hex(), {}))


def write_committee_keys(d: Deployment, path: Path) -> Path:
    """The validator keys as `LocalCommittee.from_dir` reads them."""
    path.mkdir(parents=True, exist_ok=True)
    for address, sk in d.validator_keys.items():
        (path / f"{address}.key").write_text(bytes(sk).hex())
    return path
