"""Settlement gas: submitBatch for 1, 64 and 4,096 receipts against settling each inference in its own tx.

Starts its own anvil, deploys the protocol and settles real batches (sample-circuit Groth16 proofs verified
on-chain). A batch's cost depends on how many accounts it debits and credits, not on how many receipts it
covers; the baseline settles one receipt per transaction (one client, operator and validator). Also prints
the gas of each verification part (Groth16, BLS hash-to-G2, pairing, per-key aggregation).
Every batch, the single-receipt baseline included, carries the batch committee's BLS certificate.
Prints, last, the ratio (4,096 single-receipt settlements) / (one 4,096-receipt batch).
"""

from __future__ import annotations

import argparse

from eth_account import Account

from ax0n import bls
from ax0n.certificate import batch_signing_root
from ax0n.chain.anvil import Anvil
from ax0n.chain.batch import Batch, SampleBatchProver, certificate_args, split_totals
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, deploy
from ax0n.params import MAINNET, TOKEN

PARAMS = MAINNET.replace(settlement_frequency=1)
SAMPLE_PK = "contracts/circuits/sample_batch.pk"


class Bench:
    def __init__(self, chain: Anvil, manifest: Manifest, prover: SampleBatchProver) -> None:
        self.chain, self.w3, self.manifest, self.prover = chain, chain.web3, manifest, prover
        self.owner = Signer.from_key(self.w3, chain.accounts[0].key)
        self.token = manifest.contract(self.w3, "Ax0nToken")
        self.nodes = manifest.contract(self.w3, "NodeRegistry")
        self.settlement = manifest.contract(self.w3, "Settlement")
        self.batch_id = 0
        self.chain_id = self.w3.eth.chain_id
        self.committee: list[tuple[str, bls.SecretKey]] = []

    def accounts(self, n: int) -> list[str]:
        return [Account.create().address for _ in range(n)]

    def operators(self, n: int) -> list[str]:
        """n fresh registered executor nodes."""
        out = []
        for _ in range(n):
            acct = Account.create()
            self.chain.web3.provider.make_request("anvil_setBalance", [acct.address, hex(10**20)])
            node = Signer(self.w3, acct)
            self.owner.transact(self.token.functions.transfer(node.address, PARAMS.min_node_stake))
            node.transact(self.token.functions.approve(self.nodes.address, PARAMS.min_node_stake))
            node.transact(self.nodes.functions.register(PARAMS.min_node_stake, [], "grpc://n", node.address))
            out.append(node.address)
        return out

    def validators(self, n: int) -> list[str]:
        """n fresh staked nodes with registered BLS keys; together they form every batch committee."""
        out = self.operators(n)
        for address in out:
            sk = bls.keygen(bytes.fromhex(address[2:]).ljust(32, b"\0"))
            self.w3.provider.make_request("anvil_impersonateAccount", [address])
            pk, pop = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.prove_possession(sk))
            tx_hash = self.nodes.functions.registerValidatorKey(pk, pop).transact({"from": address})
            assert self.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
            self.committee.append((address, sk))
        return out

    def escrow(self, clients: list[str], amount: int) -> None:
        """Fund and escrow for each client (impersonated: anvil_impersonateAccount)."""
        for client in clients:
            self.owner.transact(self.token.functions.transfer(client, amount))
            self.w3.provider.make_request("anvil_setBalance", [client, hex(10**20)])
            self.w3.provider.make_request("anvil_impersonateAccount", [client])
            for fn in (self.token.functions.approve(self.settlement.address, amount),
                       self.settlement.functions.deposit(amount)):  # fmt: skip
                tx_hash = fn.transact({"from": client})
                assert self.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1

    def settle(self, count: int, clients: list[str], operators: list[str], validators: list[str]) -> int:
        """Settle one batch of `count` receipts over these accounts; returns the transaction's gas used."""
        self.chain.mine(PARAMS.settlement_frequency)
        self.batch_id += 1
        fee = 10**15 * count + 7
        debits = [fee // len(clients)] * len(clients)
        debits[-1] += fee - sum(debits)
        op, val, _ = split_totals(fee, PARAMS)
        witness = 10**6 + self.batch_id
        batch = Batch(
            batch_id=self.batch_id,
            root=SampleBatchProver.root_for(count, witness),
            count=count,
            clients=tuple(clients),
            debits=tuple(debits),
            operators=tuple(operators),
            operator_credits=(
                *[op // len(operators)] * (len(operators) - 1),
                op - op // len(operators) * (len(operators) - 1),
            ),
            validators=tuple(validators),
            validator_credits=(
                *[val // len(validators)] * (len(validators) - 1),
                val - val // len(validators) * (len(validators) - 1),
            ),
        )
        proof = self.prover.prove_batch(batch, witness)
        args = (batch.batch_id, batch.root.to_bytes(32, "big"), count, *map(list, (
            batch.clients, batch.debits, batch.operators, batch.operator_credits, batch.validators, batch.validator_credits)))  # fmt: skip
        message = batch_signing_root(batch.batch_id.to_bytes(32, "big"), batch.root.to_bytes(32, "big"), self.chain_id)
        members = [a for a, _ in self.committee]
        signature = bls.sign_many([sk for _, sk in self.committee], message)
        cert = certificate_args(members, range(len(members)), signature)
        receipt = self.owner.transact(self.settlement.functions.submitBatch(args, proof, cert))
        return receipt["gasUsed"]


def verification_parts(chain: Anvil, manifest: Manifest, prover: SampleBatchProver, signers: int) -> None:
    w3 = chain.web3
    probe = Signer.from_key(w3, chain.accounts[0].key).deploy("GasProbe")
    message = bytes(32)
    sk = bls.keygen(bytes(32))
    pk, sig = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.sign(sk, message))
    groth16, ok = probe.functions.groth16Gas(
        manifest.addresses["Verifier"], prover.prove([1, 8, 1, 5], 3), [1, 8, 1, 5]
    ).call()
    assert ok
    hash_gas = probe.functions.hashToG2Gas(message).call()
    verify_gas, ok = probe.functions.verifyGas(pk, message, sig).call()
    assert ok
    add_gas = probe.functions.aggregateGas(pk, signers).call()
    print(f"groth16 batch-proof verification (4 public inputs): {groth16:>9,} gas")
    print(f"BLS hash-to-G2 (RFC 9380, expand_message_xmd + 2 maps): {hash_gas:>9,} gas")
    print(f"BLS signature check (hash-to-G2 + 2-pair pairing):  {verify_gas:>9,} gas")
    print(f"BLS key aggregation, {signers} signers (G1ADD):        {add_gas:>9,} gas ({add_gas // signers:,}/signer)")
    print(f"committee certificate, {signers} signers:              {verify_gas + add_gas:>9,} gas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small account sets (CI)")
    args = parser.parse_args()
    n_clients, n_ops, n_vals = (4, 2, 8) if args.quick else (64, 16, 64)

    prover = SampleBatchProver.load(SAMPLE_PK)
    with Anvil() as chain:
        manifest = deploy(chain.web3, chain.accounts[0].key, params=PARAMS)
        bench = Bench(chain, manifest, prover)
        single_client, single_op = bench.accounts(1), bench.operators(1)
        clients, ops, vals = bench.accounts(n_clients), bench.operators(n_ops), bench.validators(n_vals)
        print(f"every batch carries a committee certificate signed by all {n_vals} registered validators")
        bench.escrow(single_client + clients, 10_000 * TOKEN)
        bench.settle(1, single_client, single_op, bench.accounts(1))  # warm storage slots like a live system
        single = bench.settle(1, single_client, single_op, bench.accounts(1))
        print(f"one receipt per transaction (1 client, 1 operator, 1 validator): {single:,} gas")
        warm = bench.settle(1, clients, ops, vals)
        print(f"warm-up batch (first credit to each account: zero-to-nonzero storage writes): {warm:,} gas")
        results = {}
        for count in (1, 64, 4_096):
            results[count] = bench.settle(count, clients, ops, vals)
            print(
                f"submitBatch {count:>5} receipts ({n_clients} clients, {n_ops} operators, {n_vals} validators): "
                f"{results[count]:>9,} gas, {results[count] / count:>10,.1f} gas/receipt"
            )
        more = bench.settle(4_096, clients + bench.accounts(0), ops, vals + bench.accounts(8))
        print(f"per extra credited account (8 more validators): {(more - results[4_096]) / 8:,.0f} gas")
        verification_parts(chain, manifest, prover, signers=max(n_vals, 16))
    ratio = single * 4_096 / results[4_096]
    print(f"ratio (4,096 single-receipt settlements / one 4,096-receipt batch): {ratio:,.1f}x")


if __name__ == "__main__":
    main()
