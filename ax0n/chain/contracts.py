"""web3.py bindings built from the contracts' ABIs and bytecode, and a signer that sends transactions.

The artifacts ship inside this package (`artifacts/<Name>.json`, copied from forge's out/ by `make contracts`);
`AX0N_CONTRACTS_OUT` names a forge out/ directory to load other contracts from (tests use it for test contracts).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

PACKAGED = Path(__file__).resolve().parent / "artifacts"


class TransactionFailed(RuntimeError):
    """A mined transaction reverted (status 0)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str


@cache
def artifact(name: str, source: str | None = None) -> Artifact:
    """Contract `name`'s ABI and bytecode: the packaged artifact, else `$AX0N_CONTRACTS_OUT/<source or name>.sol/
    <name>.json`."""
    path = PACKAGED / f"{name}.json"
    out = os.environ.get("AX0N_CONTRACTS_OUT")
    if not path.exists() and out:
        path = Path(out) / f"{source or name}.sol" / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"contract artifact {name} missing: build the contracts (`make contracts`)")
    data = json.loads(path.read_text())
    return Artifact(name, data["abi"], data["bytecode"]["object"])


def bind(w3: Web3, name: str, address: str, source: str | None = None) -> Contract:
    """A web3 contract object for deployed contract `name` at `address`."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifact(name, source).abi)


@dataclass
class Signer:
    """Sends transactions from one local key (signed here, so any RPC endpoint works)."""

    w3: Web3
    account: LocalAccount
    gas_used: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_key(cls, w3: Web3, key: str) -> Signer:
        return cls(w3, Account.from_key(key))

    @property
    def address(self) -> str:
        return self.account.address

    def _send(self, tx: dict[str, Any], label: str) -> TxReceipt:
        tx.setdefault("from", self.address)
        tx.setdefault("nonce", self.w3.eth.get_transaction_count(self.address, "pending"))
        tx.setdefault("chainId", self.w3.eth.chain_id)
        if "gas" not in tx:
            tx["gas"] = int(self.w3.eth.estimate_gas(tx) * 1.2) + 50_000
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise TransactionFailed(f"{label} reverted in tx {tx_hash.to_0x_hex()}")
        self.gas_used[label] = receipt["gasUsed"]
        return receipt

    def deploy(self, name: str, *args: Any, source: str | None = None) -> Contract:
        """Deploy contract `name` with constructor `args`; returns the bound contract."""
        art = artifact(name, source)
        factory = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        receipt = self._send(factory.constructor(*args).build_transaction({"from": self.address}), f"deploy {name}")
        return bind(self.w3, name, receipt["contractAddress"], source)

    def transact(self, fn: ContractFunction, label: str | None = None, gas: int | None = None) -> TxReceipt:
        """Send `fn` (e.g. `contract.functions.deposit(1)`) and wait for a successful receipt."""
        tx: dict[str, Any] = {"from": self.address}
        if gas is not None:
            tx["gas"] = gas
        built = fn.build_transaction(tx)
        if gas is None:  # web3 filled in its exact estimate; _send's margin covers gas that grows with block.timestamp
            del built["gas"]
        return self._send(built, label or fn.fn_name)
