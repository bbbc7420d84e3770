"""Settlement contract access for the settler: reads, fee estimates, and signed submitBatch transactions."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractCustomError, TransactionNotFound

from ax0n.chain.batch import Batch
from ax0n.chain.contracts import artifact

Certificate = tuple[int, list[str], bytes]  # Settlement.Certificate: (referenceBlock, nonSigners, signature)


def abi(contract: str) -> list[dict[str, object]]:
    """The contract's ABI from the Foundry build output (`contracts/out`)."""
    return artifact(contract).abi


# Reverts that no retry can cure: the batch must drop the receipts of that operator or client.
_UNPAYABLE = {
    function_signature_to_4byte_selector("InactiveOperator(address)"): ("operator", ["address"]),
    function_signature_to_4byte_selector("InsufficientEscrow(address,uint256,uint256)"): (
        "client",
        ["address", "uint256", "uint256"],
    ),
}


# Reverts of a certificate that no longer fits the registered validator set: get a new one.
STALE_CERTIFICATE = frozenset(
    function_signature_to_4byte_selector(sig)
    for sig in (  # NodeRegistry.checkCertificate's errors, which Settlement passes on
        "ReferenceBlockNotPast(uint256,uint256)",
        "ReferenceBlockTooOld(uint256,uint256)",
        "NonSignersNotAscending(uint256)",
        "NotCountedAtReference(address,uint256)",
        "InsufficientSignedStake(uint256,uint256)",
        "InvalidAggregateSignature()",
    )
)


def error_data(exc: ContractCustomError) -> bytes:
    """The revert data of a custom error: 4-byte selector, then the ABI-encoded arguments."""
    return bytes.fromhex(str(exc.data).removeprefix("0x")) if exc.data else b""


def stale_certificate(exc: ContractCustomError) -> bool:
    """Whether submitBatch (or challengeQuorumFault) reverted on the committee certificate."""
    return error_data(exc)[:4] in STALE_CERTIFICATE


def unpayable(exc: ContractCustomError) -> tuple[str, bytes] | None:
    """("operator" | "client", address) when submitBatch reverted because of that account, else None."""
    data = error_data(exc)
    found = _UNPAYABLE.get(data[:4])
    if found is None:
        return None
    kind, types = found
    return kind, bytes.fromhex(decode(types, data[4:])[0][2:])


@dataclass(frozen=True, slots=True)
class Settled:
    root: int
    block: int  # 0: not settled


@dataclass(frozen=True, slots=True)
class Mined:
    tx_hash: str
    block: int
    block_hash: str
    ok: bool


@dataclass(frozen=True, slots=True)
class Fees:
    max_fee: int
    tip: int

    def bumped(self, current: Fees, factor: float) -> Fees:
        """Fees for a replacement: at least `factor` × these (nodes need ≥ +10 %), and no less than `current`."""
        return Fees(
            max_fee=max(math.ceil(self.max_fee * factor) + 1, current.max_fee),
            tip=max(math.ceil(self.tip * factor) + 1, current.tip),
        )


_SENDERS: dict[str, threading.Lock] = {}  # account address -> its send lock, for the whole process


class SettlementChain:
    """One Settlement deployment, seen and driven by the settler's account."""

    def __init__(self, web3: Web3, settlement: str, private_key: str) -> None:
        self.w3 = web3
        self.address = Web3.to_checksum_address(settlement)
        self.contract = web3.eth.contract(self.address, abi=abi("Settlement"))
        self.account: LocalAccount = Account.from_key(private_key)
        self.chain_id = web3.eth.chain_id
        params = self.contract.functions.params().call()
        self.params = web3.eth.contract(params, abi=abi("ProtocolParams"))
        self.nodes = web3.eth.contract(self.contract.functions.nodes().call(), abi=abi("NodeRegistry"))
        self._registered: dict[bytes, set[str]] = {}
        self._scanned = -1  # last block scanned for NodeRegistered

    def operator_of(self, signer: bytes) -> bytes | None:
        """The active operator that registered receipt signing key `signer`; None when no operator or several
        registered it, or the one that did is not active. From NodeRegistry's NodeRegistered events, scanned
        incrementally."""
        head = self.head()
        if head > self._scanned:
            for log in self.nodes.events.NodeRegistered().get_logs(from_block=self._scanned + 1, to_block=head):
                key = bytes.fromhex(log["args"]["signingKey"][2:])
                self._registered.setdefault(key, set()).add(log["args"]["operator"])
            self._scanned = head
        ops = self._registered.get(signer, set())
        if len(ops) != 1:
            return None
        (op,) = ops
        return bytes.fromhex(op[2:]) if self.nodes.functions.isActive(op).call() else None

    def head(self) -> int:
        return self.w3.eth.block_number

    @contextlib.contextmanager
    def sending(self) -> Iterator[int]:
        """The account's pending nonce, held until the caller has broadcast the transaction that uses it: the
        settlement loop and the challenge watcher of one process send from one account (each through its own
        SettlementChain), so they take nonces one at a time instead of clashing and retrying."""
        with _SENDERS.setdefault(self.account.address, threading.Lock()):
            yield self.nonce("pending")

    def block_hash(self, number: int) -> str | None:
        try:
            return self.w3.eth.get_block(number)["hash"].to_0x_hex()
        except Exception:
            return None

    def settled(self, seq: int) -> Settled:
        root, block, _count, _fee = self.contract.functions.batches(seq).call()
        return Settled(int.from_bytes(root, "big"), block)

    def settlement_tx(self, seq: int, block: int) -> str:
        """Hash of the transaction that settled batch `seq` in `block` (its BatchSettled event)."""
        logs = self.contract.events.BatchSettled().get_logs(
            argument_filters={"batchId": seq}, from_block=block, to_block=block
        )
        return logs[0]["transactionHash"].to_0x_hex() if logs else ""

    def last(self) -> tuple[int, int]:
        """(lastBatchId, lastSettlementBlock)."""
        return self.contract.functions.lastBatchId().call(), self.contract.functions.lastSettlementBlock().call()

    def frequency(self) -> int:
        return self.params.functions.get(self.params.functions.SETTLEMENT_FREQUENCY().call()).call()

    def slash_window(self) -> int:
        return self.params.functions.get(self.params.functions.SLASH_WINDOW().call()).call()

    def fees(self) -> Fees:
        tip = self.w3.eth.max_priority_fee
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        return Fees(max_fee=2 * base + tip, tip=tip)

    def nonce(self, block: str = "pending") -> int:
        return self.w3.eth.get_transaction_count(self.account.address, block)

    def estimate(self, batch: Batch, proof: bytes, cert: Certificate) -> int:
        """Gas for submitBatch; raises web3's ContractCustomError/ContractLogicError when it would revert."""
        call = self.contract.functions.submitBatch(batch.args(), proof, cert)
        # in the block the transaction would land in: a certificate's reference block must be before it
        return call.estimate_gas({"from": self.account.address}, block_identifier="pending")

    def sign(self, batch: Batch, proof: bytes, cert: Certificate, nonce: int, fees: Fees, gas: int) -> tuple[str, str]:
        """(tx hash, raw tx hex) of a signed submitBatch."""
        tx = self.contract.functions.submitBatch(batch.args(), proof, cert).build_transaction(
            {
                "from": self.account.address,
                "nonce": nonce,
                "gas": gas,
                "maxFeePerGas": fees.max_fee,
                "maxPriorityFeePerGas": fees.tip,
                "chainId": self.chain_id,
            }
        )
        signed = self.account.sign_transaction(tx)
        return signed.hash.to_0x_hex(), signed.raw_transaction.to_0x_hex()

    def broadcast(self, raw: str) -> None:
        """Send a signed transaction; a node that already has it is fine."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except ValueError as exc:  # JSON-RPC error
            message = str(exc).lower()
            if "already known" in message or "already imported" in message or "nonce too low" in message:
                return
            raise

    def known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (pending or mined)."""
        try:
            self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def mined(self, tx_hash: str) -> Mined | None:
        try:
            r = self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        return Mined(tx_hash, r["blockNumber"], r["blockHash"].to_0x_hex(), r["status"] == 1)
