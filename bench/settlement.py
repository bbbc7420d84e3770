"""Settlement gas: submitBatch with ProofCore's real 16-leaf batch proof against one receipt per transaction.

Starts its own anvil, deploys the protocol and settles real batches: receipts become `ax0n.spec.settlement.Leaf`s,
`CircuitBatchProver` proves them with the batch16 circuit under this machine's setup (`make artifacts`), and the
generated Batch16Verifier checks the proof on-chain (72 public inputs). Every batch, the single-receipt baseline
included, carries the batch committee's BLS certificate signed by every registered validator.

The deployed circuit holds N = 16 receipts, so one submitBatch settles at most 16: 1 and 16 receipts are single
measured batches, 64 receipts are 4 measured 16-receipt batches, and 4,096 receipts are PROJECTED as 256 times
the mean measured 16-receipt batch (256 proofs would take minutes). Settling 4,096 in one transaction needs a
bigger circuit (docs/contracts.md, "Gas"). Also prints the gas of each verification part.
Then it settles ONE real 4,096-receipt optimistic batch (OptimisticSettlement, docs/contracts.md): 4,096 requests
signed by many clients (EIP-712, as the SDK signs them) for many operators become `ax0n.spec.batch` leaves, their
chains and both keccak trees are built (timed, peak memory traced), and submitBatch stores the header under the
same committee's stake certificate. It also measures what the accounts pay later: every client's applyDebits
and every operator's claimCredits after the challenge window (64 accounts per transaction). Prints, last, the
measured gas per receipt at 4,096 and its ratio to the measured 16-receipt zk batches. `--optimistic` runs only
the optimistic batch.

`--certificates` instead measures the stake-certificate check alone (NodeRegistry.checkCertificate) with 1,000
registered validators and 0, 10 and 100 non-signers, against the per-key baseline of aggregating all 1,000
signers' registered keys (NodeRegistry.verifyAggregate) in the same run. Registering 1,000 validators through
JSON-RPC is too slow for a bench, so this mode runs the forge test StakeCertificateGasTest (contracts/test/
StakeCertificates.t.sol) with `--isolate`, which executes each call as its own transaction (cold storage, as on
a chain), and prints the gas it logs.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import re
import subprocess
import time
import tracemalloc
from pathlib import Path

from ax0n_tools.devnet.anvil import Anvil
from eth_account import Account

from ax0n.chain import optimistic as opt_args
from ax0n.chain.batch import SIZE, Batch, certificate_args, submission
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, deploy
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import batch as batches
from ax0n.spec import bls
from ax0n.spec import request as requests
from ax0n.spec.certificate import batch_signing_root
from ax0n.spec.params import MAINNET, TOKEN
from ax0n.spec.settlement import BatchPlan, Leaf
from ax0n.v1 import types_pb2
from ax0n.zk.batch import CircuitBatchProver

PARAMS = MAINNET.replace(settlement_frequency=1)
CHUNK = 64  # accounts per applyDebits / claimCredits transaction

# Run from the checkout as `make` runs it: the Groth16 setup the deployed Batch16Verifier was generated from, and
# forge's build output (GasProbe and the test contracts are not package data).
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AX0N_ARTIFACTS_DIR", str(REPO / ".cache" / "artifacts"))
os.environ.setdefault("AX0N_CONTRACTS_OUT", str(REPO / "contracts" / "out"))


class Bench:
    def __init__(self, chain: Anvil, manifest: Manifest, prover: CircuitBatchProver | None) -> None:
        self.chain, self.w3, self.manifest, self.prover = chain, chain.web3, manifest, prover
        self.owner = Signer.from_key(self.w3, chain.accounts[0].key)
        self.token = manifest.contract(self.w3, "Ax0nToken")
        self.nodes = manifest.contract(self.w3, "NodeRegistry")
        self.settlement = manifest.contract(self.w3, "Settlement")
        self.batch_id = 0
        self.chain_id = self.w3.eth.chain_id
        self.committee: list[tuple[str, bls.SecretKey]] = []
        self.last: tuple[Batch, bytes] | None = None

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
            proof = signing_key_proof(acct.key, node.address, self.chain_id, self.nodes.address)
            register = self.nodes.functions.register(
                PARAMS.min_node_stake, [], "grpc://n", node.address, "default", proof
            )
            node.transact(register)
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

    def settle(self, count: int, clients: list[str], operators: list[str]) -> int:
        """Prove and settle one batch of `count` receipts spread over these accounts; returns the gas used."""
        self.chain.mine(PARAMS.settlement_frequency)
        self.batch_id += 1
        leaves = [
            Leaf(
                request_id=hashlib.sha256(f"request {self.batch_id}/{i}".encode()).digest(),
                receipt_hash=hashlib.sha256(f"receipt {self.batch_id}/{i}".encode()).digest(),
                operator=bytes.fromhex(operators[i % len(operators)][2:]),
                client=bytes.fromhex(clients[i % len(clients)][2:]),
                fee=10**15 + 7 * i,
                fee_cap=10**16,
            )
            for i in range(count)
        ]
        plan = BatchPlan(self.batch_id, tuple(leaves), SIZE, PARAMS)
        assert self.prover is not None
        batch, proof = submission(plan, self.prover.prove(plan))
        self.last = batch, proof
        message = batch_signing_root(batch.batch_id.to_bytes(32, "big"), batch.root.to_bytes(32, "big"), self.chain_id)
        signature = bls.sign_many([sk for _, sk in self.committee], message)
        cert = certificate_args(self.w3.eth.block_number - 1, [], signature)  # all signed: no non-signers
        receipt = self.owner.transact(self.settlement.functions.submitBatch(batch.args(), proof, cert))
        return receipt["gasUsed"]


def signed_debits(count: int, n_clients: int, n_ops: int, chain_id: int, domain: bytes) -> list[batches.Debit]:
    """`count` receipts' debits: requests signed by `n_clients` fresh clients, served by `n_ops` operators."""
    clients = [Account.create() for _ in range(n_clients)]
    operators = [bytes.fromhex(Account.create().address[2:]) for _ in range(n_ops)]
    out = []
    for i in range(count):
        req = types_pb2.InferenceRequest(
            model_id="bench", prompt=f"prompt {i}", max_tokens=256, max_latency_ms=10_000, fee_cap=str(10**16),
            nonce=i, deadline=2_000_000_000, chain_id=chain_id, settlement=domain,
        )  # fmt: skip
        req = requests.sign(req, clients[i % n_clients].key)
        out.append(
            batches.Debit(
                receipt_hash=hashlib.sha256(f"receipt {i}".encode()).digest(),
                request_hash=requests.struct_hash(req),
                signature=bytes(req.signature),
                client=bytes(req.client),
                operator=operators[(i * 7) % n_ops],
                fee=10**15 + 7 * i,
            )
        )
    return out


def optimistic(bench: Bench, count: int, n_clients: int, n_ops: int) -> float:
    """Settle one `count`-receipt optimistic batch; returns submitBatch's gas per receipt."""
    w3, manifest = bench.w3, bench.manifest
    domain = bytes.fromhex(manifest.addresses["Settlement"][2:])  # what this deployment's clients sign for
    treasury = bench.owner.address
    settlement = bench.owner.deploy(
        "OptimisticSettlement", bench.token.address, bench.nodes.address, manifest.addresses["ProtocolParams"],
        treasury, manifest.addresses["Settlement"],
    )  # fmt: skip
    debits = signed_debits(count, n_clients, n_ops, bench.chain_id, domain)
    tracemalloc.start()
    start = time.perf_counter()
    b = batches.build(1, debits, PARAMS.operator_fee_share_bps)
    header = b.header  # both keccak trees
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"optimistic batch: {count:,} receipts, {n_clients} clients, {n_ops} operators, {len(b.accounts)} account "
        f"entries; leaves, chains and both keccak trees built in {elapsed:.2f} s (Python), peak {peak / 2**20:.1f} MiB"
    )
    signature = bls.sign_many([sk for _, sk in bench.committee], opt_args.signing_root(header, bench.chain_id))
    cert = certificate_args(w3.eth.block_number - 1, [], signature)
    receipt = bench.owner.transact(settlement.functions.submitBatch(opt_args.header_args(header), cert))
    gas = receipt["gasUsed"]
    print(
        f"optimistic submitBatch, {count:,} receipts, stake certificate of {len(bench.committee)} validators: "
        f"{gas:,} gas ({gas / count:,.1f} gas/receipt; constant in the batch size)"
    )
    # Afterwards each account's money moves in its own transaction, paid by whoever wants it moved.
    clients = [a for a in b.accounts if a.debit]
    for a in clients:
        who = opt_args.account_args(a)[1]
        bench.owner.transact(bench.token.functions.transfer(who, a.debit))
        w3.provider.make_request("anvil_setBalance", [who, hex(10**20)])
        w3.provider.make_request("anvil_impersonateAccount", [who])
        for fn in (bench.token.functions.approve(settlement.address, a.debit), settlement.functions.deposit(a.debit)):
            assert w3.eth.wait_for_transaction_receipt(fn.transact({"from": who}))["status"] == 1
    later = {"applyDebits": 0, "claimCredits": 0}
    operators = [a for a in b.accounts if a.credit]
    for name, group in (("applyDebits", clients), ("claimCredits", operators)):
        if name == "claimCredits":
            bench.chain.mine(PARAMS.slash_window + 1)
        for k in range(0, len(group), CHUNK):
            part = group[k : k + CHUNK]
            fn = getattr(settlement.functions, name)(
                1, [opt_args.account_args(a) for a in part], [b.account_proof(a.slot) for a in part]
            )
            later[name] += bench.owner.transact(fn)["gasUsed"]
    fees = bench.owner.transact(settlement.functions.collectFees(1))["gasUsed"]
    first = b.accounts[0]  # a client absent from the batch proves it against the first entry (it sorts before)
    skip = settlement.functions.skipDebit(
        1, "0x" + "00" * 19 + "01", [opt_args.account_args(first)], [b.account_proof(0)]
    )
    skip_gas = bench.owner.transact(skip)["gasUsed"]
    assert settlement.functions.escrow(opt_args.account_args(clients[0])[1]).call() == 0
    print(
        f"after the {PARAMS.slash_window}-block challenge window, in transactions of <= {CHUNK} accounts: "
        f"applyDebits {later['applyDebits'] / len(clients):,.0f} gas per client ({len(clients)}), claimCredits "
        f"{later['claimCredits'] / len(operators):,.0f} gas per operator ({len(operators)}), collectFees {fees:,} gas"
    )
    print(f"skipDebit (a client absent from the batch, before it may withdraw): {skip_gas:,} gas per batch")
    total = gas + sum(later.values()) + fees
    print(f"all-in (submit + every debit, credit and fee split): {total:,} gas, {total / count:,.1f} gas/receipt")
    return gas / count


def verification_parts(chain: Anvil, manifest: Manifest, batch: Batch, proof: bytes, signers: int) -> None:
    w3 = chain.web3
    probe = Signer.from_key(w3, chain.accounts[0].key).deploy("GasProbe")
    message = bytes(32)
    sk = bls.keygen(bytes(32))
    pk, sig = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.sign(sk, message))
    groth16, ok = probe.functions.groth16Gas(manifest.addresses["Verifier"], proof, batch.public_inputs(PARAMS)).call()
    assert ok
    hash_gas = probe.functions.hashToG2Gas(message).call()
    verify_gas, ok = probe.functions.verifyGas(pk, message, sig).call()
    assert ok
    add_gas = probe.functions.aggregateGas(pk, signers).call()
    print(f"groth16 batch-proof verification (72 public inputs): {groth16:>9,} gas")
    print(f"BLS hash-to-G2 (RFC 9380, expand_message_xmd + 2 maps): {hash_gas:>9,} gas")
    print(f"BLS signature check (hash-to-G2 + 2-pair pairing):  {verify_gas:>9,} gas")
    print(f"BLS key aggregation, {signers} signers (G1ADD):        {add_gas:>9,} gas ({add_gas // signers:,}/signer)")
    print(f"per-key certificate, {signers} signers (before stake certificates): {verify_gas + add_gas:>9,} gas")


ROOT = Path(__file__).resolve().parents[1]
FORGE = ROOT / "contracts/node_modules/@foundry-rs/forge-linux-amd64/bin/forge"


def certificates() -> None:
    """checkCertificate gas with 1,000 validators (forge, --isolate) and its ratio to the per-key baseline."""
    out = subprocess.run(
        [str(FORGE), "test", "--offline", "--isolate", "--gas-limit", "100000000000", "-vv",
         "--match-contract", "StakeCertificateGasTest"],
        cwd=ROOT / "contracts", check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    gas = {m[1]: int(m[2]) for m in re.finditer(r"^\s*(.+?): (\d+)$", out, re.M) if "gas" in m[1]}
    baseline = gas["baseline verifyAggregate gas, 1000 signer keys"]
    print("stake certificate check (NodeRegistry.checkCertificate), 1,000 registered validators, forge --isolate:")
    for n in (0, 10, 100):
        used = gas[f"checkCertificate gas, non-signers={n}"]
        print(f"  {n:>3} non-signers: {used:>10,} gas  (baseline / this = {baseline / used:,.1f}x)")
    print(f"baseline: aggregating all 1,000 signers' registered keys + one pairing: {baseline:,} gas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small account sets (CI)")
    parser.add_argument("--certificates", action="store_true", help="only the 1,000-validator certificate check")
    parser.add_argument("--optimistic", action="store_true", help="only the 4,096-receipt optimistic batch")
    args = parser.parse_args()
    if args.certificates:
        certificates()
        return
    n_clients, n_ops, n_vals = (4, 2, 8) if args.quick else (SIZE, SIZE, 64)
    big_clients, big_ops = (32, 16) if args.quick else (256, 64)
    if args.optimistic:
        with Anvil() as chain:
            bench = Bench(chain, deploy(chain.web3, chain.accounts[0].key, params=PARAMS), None)
            bench.validators(n_vals)
            per_receipt = optimistic(bench, 4_096, big_clients, big_ops)
        print(f"gas per receipt at 4,096 (one optimistic batch, measured): {per_receipt:,.1f}")
        return

    prover = CircuitBatchProver(SIZE)
    with Anvil() as chain:
        manifest = deploy(chain.web3, chain.accounts[0].key, params=PARAMS)
        bench = Bench(chain, manifest, prover)
        single_client, single_op = bench.accounts(1), bench.operators(1)
        clients, ops = bench.accounts(n_clients), bench.operators(n_ops)
        bench.validators(n_vals)
        print(f"every batch carries a stake certificate signed by all {n_vals} registered validators")
        print(f"circuit: BatchSettlement(4, {SIZE}); at most {SIZE} receipts, operators and clients per submitBatch")
        bench.escrow(single_client + clients, 10_000 * TOKEN)
        bench.settle(1, single_client, single_op)  # warm storage slots like a live system
        single = bench.settle(1, single_client, single_op)
        print(f"one receipt per transaction (1 client, 1 operator; validator share to the signers): {single:,} gas")
        warm = bench.settle(SIZE, clients, ops)
        print(f"warm-up batch (first credit to each account: zero-to-nonzero storage writes): {warm:,} gas")
        one = bench.settle(1, clients, ops)
        full = [bench.settle(SIZE, clients, ops) for _ in range(64 // SIZE)]
        per_batch = sum(full) / len(full)
        results = {1: one, 64: sum(full), 4_096: math.ceil(4_096 / SIZE) * per_batch}
        for count, gas in results.items():
            batches = math.ceil(count / SIZE)
            how = "projected" if count == 4_096 else "measured"
            print(
                f"submitBatch {count:>5} receipts in {batches:>3} batch(es) of <= {SIZE} ({n_clients} clients, "
                f"{n_ops} operators), {how}: {gas:>12,.0f} gas, {gas / count:>10,.1f} gas/receipt"
            )
        assert bench.last is not None
        verification_parts(chain, manifest, *bench.last, signers=n_vals)
        per_receipt = optimistic(bench, 4_096, big_clients, big_ops)
    ratio = single * 4_096 / results[4_096]
    print(f"ratio (4,096 single-receipt settlements / 4,096 receipts in {SIZE}-receipt batches): {ratio:,.1f}x")
    zk = per_batch / SIZE
    print(
        f"gas per receipt at 4,096 (one optimistic batch, measured): {per_receipt:,.1f} "
        f"(zk {SIZE}-receipt batches, measured: {zk:,.0f}/receipt; {zk / per_receipt:,.0f}x less)"
    )


if __name__ == "__main__":
    main()
