"""Optimistic batches through web3 on anvil: a batch ax0n.spec.batch builds from client-signed requests settles under
a real stake certificate and pays after its window, and the faults `find_fault` names are the ones
OptimisticSettlement accepts (`ax0n.chain.optimistic.challenge_call`), voiding the batch."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from ax0n_tools.devnet.anvil import Anvil
from eth_account import Account
from web3.contract import Contract

from ax0n.chain import optimistic
from ax0n.chain.batch import certificate_args
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import batch as batches
from ax0n.spec import bls
from ax0n.spec import request as requests
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2

ESCROW = 10**18
SECRETS = [bls.keygen(bytes([0x40 + i]) * 32) for i in range(3)]


class Chain:
    def __init__(self, anvil: Anvil, manifest: Manifest) -> None:
        self.anvil, self.w3 = anvil, anvil.web3
        self.owner = Signer.from_key(self.w3, anvil.accounts[0].key)
        self.token = manifest.contract(self.w3, "Ax0nToken")
        self.nodes = manifest.contract(self.w3, "NodeRegistry")
        self.domain = manifest.addresses["Settlement"]  # what the deployment's clients sign requests for
        self.chain_id = self.w3.eth.chain_id
        for i, sk in enumerate(SECRETS):
            v = Signer.from_key(self.w3, anvil.accounts[5 + i].key)
            self.owner.transact(self.token.functions.transfer(v.address, DEVNET.min_node_stake))
            v.transact(self.token.functions.approve(self.nodes.address, DEVNET.min_node_stake))
            proof = signing_key_proof(v.account.key, v.address, self.chain_id, self.nodes.address)
            v.transact(
                self.nodes.functions.register(DEVNET.min_node_stake, [], "grpc://v", v.address, "default", proof)
            )
            pk, pop = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.prove_possession(sk))
            v.transact(self.nodes.functions.registerValidatorKey(pk, pop))
        self.settlement: Contract = self.owner.deploy(
            "OptimisticSettlement", self.token.address, self.nodes.address, manifest.addresses["ProtocolParams"],
            self.owner.address, self.domain,
        )  # fmt: skip
        self.clients = [Account.create() for _ in range(3)]
        self.operators = [bytes.fromhex(Account.create().address[2:]) for _ in range(2)]
        for c in self.clients:
            client = Signer(self.w3, c)
            anvil.web3.provider.make_request("anvil_setBalance", [c.address, hex(10**20)])
            self.owner.transact(self.token.functions.transfer(c.address, ESCROW))
            client.transact(self.token.functions.approve(self.settlement.address, ESCROW))
            client.transact(self.settlement.functions.deposit(ESCROW))
        anvil.mine(1)

    def debits(self, first_nonce: int, n: int, forger: int | None = None) -> list[batches.Debit]:
        """n debits by the clients in turn; the one at position `forger` is signed by a key not its client's."""
        out = []
        for i in range(n):
            client = self.clients[i % 3]
            req = types_pb2.InferenceRequest(
                model_id="m", prompt=f"p{first_nonce + i}", max_tokens=8, max_latency_ms=1_000, fee_cap=str(10**16),
                nonce=first_nonce + i, deadline=2_000_000_000, chain_id=self.chain_id,
                settlement=bytes.fromhex(self.domain[2:]),
            )  # fmt: skip
            signed = requests.sign(req, Account.create().key if i == forger else client.key)
            out.append(
                batches.Debit(
                    hashlib.sha256(b"receipt %d" % (first_nonce + i)).digest(), requests.struct_hash(signed),
                    bytes(signed.signature), bytes.fromhex(client.address[2:]), self.operators[i % 2],
                    10**15 + 3 * i,
                )
            )  # fmt: skip
        return out

    def fault(self, b: batches.Batch) -> batches.Fault | None:
        return batches.find_fault(b, self.chain_id, bytes.fromhex(self.domain[2:]))

    def submit(self, b: batches.Batch) -> None:
        signature = bls.sign_many(SECRETS, optimistic.signing_root(b.header, self.chain_id))
        cert = certificate_args(self.w3.eth.block_number - 1, [], signature)
        self.owner.transact(self.settlement.functions.submitBatch(optimistic.header_args(b.header), cert))

    def challenge(self, b: batches.Batch, fault: batches.Fault) -> None:
        key = self.settlement.functions.challengeKey(b.batch_id, optimistic.evidence(b, fault)).call()
        commitment = self.settlement.functions.challengeCommitment(key, self.owner.address).call()
        self.owner.transact(self.settlement.functions.commitChallenge(commitment))
        self.anvil.mine(1)  # revealed in a later block than the commitment
        self.owner.transact(optimistic.challenge_call(self.settlement, b, fault, self.owner.address))


@pytest.fixture(scope="module")
def chain(anvil: Anvil, manifest: Manifest) -> Chain:
    return Chain(anvil, manifest)


def test_an_honest_batch_settles_and_pays_after_its_window(chain: Chain) -> None:
    b = batches.build(1, chain.debits(1, 9), DEVNET.operator_fee_share_bps)
    assert chain.fault(b) is None
    chain.submit(b)
    s = chain.settlement.functions
    debtors = [a for a in b.accounts if a.debit]
    args = [optimistic.account_args(a) for a in debtors], [b.account_proof(a.slot) for a in debtors]
    chain.owner.transact(s.applyDebits(1, *args))
    chain.anvil.mine(DEVNET.slash_window + 1)
    earners = [a for a in b.accounts if a.credit]
    chain.owner.transact(
        s.claimCredits(1, [optimistic.account_args(a) for a in earners], [b.account_proof(a.slot) for a in earners])
    )
    for a in earners:
        assert s.credits(optimistic.account_args(a)[1]).call() == a.credit
    for a in debtors:
        assert s.escrow(optimistic.account_args(a)[1]).call() == ESCROW - a.debit


def test_the_faults_python_finds_are_the_ones_the_contract_accepts(chain: Chain) -> None:
    bps = DEVNET.operator_fee_share_bps
    forged = batches.build(2, chain.debits(100, 6, forger=4), bps)
    fault = chain.fault(forged)
    assert fault == batches.Fault("challengeLeaf", (4,))
    chain.submit(forged)
    chain.challenge(forged, fault)
    assert chain.settlement.functions.isVoided(2).call()

    honest = batches.build(3, chain.debits(200, 6), bps)
    slot = honest.accounts.index(next(a for a in honest.accounts if a.debit))
    accounts = list(honest.accounts)
    accounts[slot] = dataclasses.replace(accounts[slot], debit=accounts[slot].debit - 1)
    running = [0, 0]
    for i, a in enumerate(accounts):  # every running sum made consistent with the lie
        running = [running[0] + a.debit, running[1] + a.credit]
        accounts[i] = dataclasses.replace(a, debit_cum=running[0], credit_cum=running[1])
    wrong = dataclasses.replace(honest, accounts=tuple(accounts))
    fault = chain.fault(wrong)
    assert fault is not None and fault.challenge == "challengeEntry" and fault.side == 0
    chain.submit(wrong)
    chain.challenge(wrong, fault)
    assert chain.settlement.functions.isVoided(3).call()
