"""Deploy and wire the protocol on any JSON-RPC endpoint; write a deployment manifest.

    manifest = deploy(w3, deployer_key, params=DEVNET)
    manifest.save(path)

Ownership: ProtocolParams and ModelRegistry end up owned by the 7-day timelock (the deployer first registers
the `models` passed in); the governor is the timelock's only proposer; anyone may execute ready operations.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from web3 import Web3
from web3.contract import Contract

from ax0n.chain.contracts import Signer, bind
from ax0n.spec.answers import DEVNET, Deployment
from ax0n.spec.params import MAINNET, Params

# On-chain parameter names are the Python field names; Settlement and the registries read these. The rest of the
# table is fixed by the code (proof sizes, rebuild interval, the BFT quorum bound) or by the timelock (its delay).
OFFCHAIN_PARAMS = frozenset(
    {
        "proof_generation_target_ms",
        "governance_timelock_s",
        "proof_constant_size",
        "routing_rebuild_interval",
        "quorum_threshold_num",
        "quorum_threshold_den",
        "reexecution_seats",
        "dispute_seats",
    }
)
ONCHAIN_PARAMS = tuple(name for name in MAINNET.as_dict() if name not in OFFCHAIN_PARAMS)
TIER = {"zk": 0, "llm": 1}


def param_name(name: str) -> bytes:
    """A parameter name as ProtocolParams' bytes32 key (right-padded ASCII)."""
    return name.encode().ljust(32, b"\0")


def model_key(model_id: str) -> bytes:
    """A model id as ModelRegistry's bytes32 key: UTF-8, right-padded with zeros (at most 32 bytes)."""
    raw = model_id.encode()
    if len(raw) > 32:
        raise ValueError(f"model id {model_id!r} is longer than 32 bytes")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model to register at deployment (before ModelRegistry is handed to the timelock)."""

    model_id: bytes
    commitment: bytes
    tier: str
    param_count: int
    vk_hash: bytes
    price_per_1k: int
    # zk tier: "private" (weights as witness, the shared MlpVerifier) or "public" (weights as circuit constants:
    # `verifier` names the model's own generated verifier contract)
    zk_mode: str = "private"
    verifier: str = ""


@dataclass
class Manifest:
    """Where the protocol lives: chain id, deployment block and contract addresses."""

    chain_id: int
    block: int
    deployer: str
    treasury: str
    verifier: str
    zk_verifier: str = "MlpVerifier"
    addresses: dict[str, str] = field(default_factory=dict)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        return cls(**json.loads(Path(path).read_text()))

    def contract(self, w3: Web3, name: str) -> Contract:
        """The deployed contract `name` (e.g. "Settlement") bound to `w3`."""
        source = {"Verifier": self.verifier, "ZkVerifier": self.zk_verifier}.get(name)
        return bind(w3, source or name, self.addresses[name], source)


def deployment_of(chain_id: int, settlement_address: str = "", manifest: str = "") -> Deployment:
    """The deployment a service serves: `settlement_address` if given, else the `manifest` file's Settlement, else
    the devnet's Settlement on `chain_id`; a manifest for another chain is an error."""
    if settlement_address:
        return Deployment.of(chain_id, settlement_address)
    if manifest:
        m = Manifest.load(manifest)
        if m.chain_id != chain_id:
            raise ValueError(f"deployment manifest {manifest} is for chain {m.chain_id}, not the configured {chain_id}")
        return Deployment.of(chain_id, m.addresses["Settlement"])
    return Deployment(chain_id, DEVNET.settlement)


def deploy(
    w3: Web3,
    deployer_key: str,
    *,
    params: Params = MAINNET,
    treasury: str | None = None,
    allocations: tuple[str, str, str, str] | None = None,
    verifier: str = "Batch16Verifier",
    zk_verifier: str = "MlpVerifier",
    models: tuple[ModelSpec, ...] = (),
    reward_pool: int = 0,
) -> Manifest:
    """Deploy token, params, registries, verifier, settlement, timelock and governor, and wire them.

    `allocations` receive the token supply (node operators, team, ecosystem, treasury); default: the deployer.
    `verifier` names the generated batch verifier (`src/verifiers/<name>.sol`, written per machine by
    `make artifacts` from ProofCore's circuit over Settlement.N = 16 receipts); `zk_verifier` the shared
    private-weight zk-tier verifier (`MlpVerifier`, same origin); Settlement checks challenges through a
    ZkVerifierRouter over it and each public-weight model's own verifier (deployed here from `ModelSpec.verifier`). `reward_pool` tokens of the
    node-operator allocation fund NodeRegistry's staking emission (only when the deployer holds that allocation).
    """
    signer = Signer.from_key(w3, deployer_key)
    me = signer.address
    treasury = Web3.to_checksum_address(treasury or me)
    ops, team, eco, tre = allocations or (me, me, me, treasury)
    values = params.as_dict()

    token = signer.deploy("Ax0nToken", ops, team, eco, tre)
    names = [param_name(n) for n in ONCHAIN_PARAMS]
    pp = signer.deploy("ProtocolParams", me, names, [values[n] for n in ONCHAIN_PARAMS])
    model_registry = signer.deploy("ModelRegistry", me, pp.address)
    nodes = signer.deploy("NodeRegistry", token.address, pp.address)
    batch_verifier = signer.deploy(verifier, source=verifier)
    settlement = signer.deploy("Settlement", token.address, nodes.address, pp.address, batch_verifier.address, treasury)
    zk = signer.deploy(zk_verifier, source=zk_verifier)
    router = signer.deploy("ZkVerifierRouter", model_registry.address, zk.address)
    signer.transact(settlement.functions.setZkVerifier(router.address))
    signer.transact(nodes.functions.setSettlement(settlement.address))
    if reward_pool:
        if ops != me:
            raise ValueError(
                "reward_pool is funded from the node-operator allocation, which the deployer does not hold"
            )
        signer.transact(token.functions.approve(nodes.address, reward_pool))
        signer.transact(nodes.functions.fundRewards(reward_pool))
    for m in models:
        if m.zk_mode == "public":
            own = signer.deploy(m.verifier, source=m.verifier)
            call = model_registry.functions.registerPublicWeights(
                m.model_id, m.commitment, m.param_count, m.vk_hash, own.address, m.price_per_1k
            )
        else:
            call = model_registry.functions.register(
                m.model_id, m.commitment, TIER[m.tier], m.param_count, m.vk_hash, m.price_per_1k
            )
        signer.transact(call)

    timelock = signer.deploy("Ax0nTimelock", [], me)
    governor = signer.deploy("Ax0nGovernor", token.address, timelock.address)
    for role in ("PROPOSER_ROLE", "CANCELLER_ROLE"):
        signer.transact(timelock.functions.grantRole(getattr(timelock.functions, role)().call(), governor.address))
    signer.transact(pp.functions.transferOwnership(timelock.address))
    signer.transact(model_registry.functions.transferOwnership(timelock.address))
    admin_role = timelock.functions.DEFAULT_ADMIN_ROLE().call()
    signer.transact(timelock.functions.renounceRole(admin_role, me))

    contracts = {
        "Ax0nToken": token,
        "ProtocolParams": pp,
        "ModelRegistry": model_registry,
        "NodeRegistry": nodes,
        "Verifier": batch_verifier,
        "ZkVerifier": zk,
        "ZkVerifierRouter": router,
        "Settlement": settlement,
        "Ax0nTimelock": timelock,
        "Ax0nGovernor": governor,
    }
    return Manifest(
        chain_id=w3.eth.chain_id,
        block=w3.eth.block_number,
        deployer=me,
        treasury=treasury,
        verifier=verifier,
        zk_verifier=zk_verifier,
        addresses={name: c.address for name, c in contracts.items()},
    )
