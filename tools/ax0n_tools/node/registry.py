"""What an operator does on-chain: read its NodeRegistry record, stake (registering first), read model records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, model_key, param_name
from ax0n.chain.registration import signing_key_proof
from ax0n.spec.params import TOKEN

CLUSTER_NAME = re.compile(r"[0-9A-Za-z._-]{1,64}")  # what NodeRegistry accepts (it names ax0n:req:{cluster})


class NodeError(Exception):
    """An operator action that cannot proceed, with what to do about it."""


def parse_amount(text: str) -> int:
    """'1000' or '1000.5' ax0n → wei; NodeError when not a positive amount."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise NodeError(f"--amount {text!r} is not a number of ax0n tokens") from None
    wei = value * TOKEN
    if value <= 0 or wei != wei.to_integral_value():
        raise NodeError(f"--amount {text!r} must be a positive number of ax0n with at most 18 decimals")
    return int(wei)


def fmt(wei: int) -> str:
    """wei → '1,000.5 ax0n'."""
    whole, frac = divmod(wei, TOKEN)
    return f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "") + " ax0n"


@dataclass(frozen=True, slots=True)
class ModelRecord:
    model_id: str
    commitment: bytes
    tier: str  # "zk" | "llm"
    price_per_1k: int


class Registry:
    """The protocol contracts of one deployment, seen by one operator account."""

    def __init__(self, rpc_url: str, manifest: Manifest) -> None:
        self.w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
        if not self.w3.is_connected():
            raise NodeError(f"no Ethereum JSON-RPC answers at {rpc_url} (check --rpc-url)")
        self.manifest = manifest
        self.token = manifest.contract(self.w3, "Ax0nToken")
        self.nodes = manifest.contract(self.w3, "NodeRegistry")
        self.models = manifest.contract(self.w3, "ModelRegistry")
        self.params = manifest.contract(self.w3, "ProtocolParams")

    def node(self, operator: str) -> dict[str, Any]:
        """The operator's NodeRegistry record as a dict by field name."""
        fn = next(x for x in self.nodes.abi if x.get("type") == "function" and x["name"] == "node")
        names = [c["name"] for c in fn["outputs"][0]["components"]]
        return dict(zip(names, self.nodes.functions.node(operator).call(), strict=True))

    def min_stake(self) -> int:
        return self.params.functions.get(param_name("min_node_stake")).call()

    def model(self, model_id: str) -> ModelRecord:
        key = model_key(model_id)
        if not self.models.functions.exists(key).call():
            raise NodeError(f"model {model_id!r} is not registered in ModelRegistry")
        commitment, tier, _params, _vk, price, *_ = self.models.functions.model(key).call()
        return ModelRecord(model_id, bytes(commitment), "zk" if tier == 0 else "llm", price)

    def balances(self, address: str) -> tuple[int, int]:
        """(ETH wei for gas, ax0n wei)."""
        return self.w3.eth.get_balance(address), self.token.functions.balanceOf(address).call()

    def stake(
        self, account: LocalAccount, amount: int, model_ids: list[str], endpoint: str, cluster: str
    ) -> tuple[str, dict]:
        """Register with `amount` in `cluster` (first time) or add it to the stake; returns (what was done, the new
        record)."""
        who = Signer(self.w3, account)
        record = self.node(account.address)
        eth, tokens = self.balances(account.address)
        if eth == 0:
            raise NodeError(f"{account.address} has no ETH to pay gas: fund it first")
        if tokens < amount:
            raise NodeError(f"{account.address} holds {fmt(tokens)}, less than the {fmt(amount)} to stake")
        if not record["registered"]:
            if not model_ids:
                raise NodeError(
                    "the first stake registers the node: pass --models with the model ids it serves (or save the "
                    "models it serves with `axon-node init --models` / --zk-models)"
                )
            if not CLUSTER_NAME.fullmatch(cluster):
                raise NodeError(f"--cluster {cluster!r} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
            minimum = self.min_stake()
            if amount < minimum:
                raise NodeError(f"the first stake must be at least min_node_stake = {fmt(minimum)}")
            for m in model_ids:
                self.model(m)  # each must be registered
        self._send(who, self.token.functions.approve(self.nodes.address, amount), "approve")
        if record["registered"]:
            self._send(who, self.nodes.functions.addStake(amount), "addStake")
            done = f"added {fmt(amount)} to the stake"
        else:
            keys = [model_key(m) for m in model_ids]
            # the operator's own account is its receipt signing key: it proves possession for this registry
            proof = signing_key_proof(account.key, account.address, self.w3.eth.chain_id, self.nodes.address)
            register = self.nodes.functions.register(amount, keys, endpoint, account.address, cluster, proof)
            self._send(who, register, "register")
            done = f"registered with {fmt(amount)} staked in cluster {cluster}, serving {', '.join(model_ids)}"
        return done, self.node(account.address)

    def claim(self, account: LocalAccount) -> tuple[int, int]:
        """Claim accrued staking rewards; returns (paid, still owed because the reward pool ran short)."""
        owed = self.nodes.functions.pendingRewards(account.address).call()
        if owed == 0:
            raise NodeError(f"{account.address} has no staking rewards to claim")
        self._send(Signer(self.w3, account), self.nodes.functions.claimRewards(), "claimRewards")
        left = self.nodes.functions.pendingRewards(account.address).call()
        return owed - left, left

    def _send(self, who: Signer, fn: Any, label: str) -> None:
        try:
            who.transact(fn, label)
        except ContractCustomError as exc:
            raise NodeError(f"{label} reverted: {self.explain(exc)}") from None
        except ContractLogicError as exc:
            raise NodeError(f"{label} reverted: {exc}") from None

    def explain(self, exc: ContractCustomError) -> str:
        """The custom error's name, looked up by selector in the protocol's ABIs."""
        data = exc.data if isinstance(exc.data, str) else str(exc.args[0])
        selector = bytes.fromhex(data.removeprefix("0x")[:8])
        for contract in (self.nodes, self.token, self.models, self.params):
            for item in contract.abi:
                if item.get("type") == "error" and function_abi_to_4byte_selector(item) == selector:
                    return item["name"]
        return data
