"""Provision a fresh devnet chain and write the files every service reads.

On the devnet's anvil (automine while provisioning): deploy the protocol with the devnet parameters
(`ax0n.chain.deploy`, registering the zk-tier MLP and the LLM-tier model in ModelRegistry), register one
executor node (stake and a receipt signing key) and `VALIDATORS` staked validators with BLS keys and proofs
of possession, and fund a demo client's escrow. Then write, under the devnet state dir:

- `deployment.json`: the deployment manifest (router and validators `--deployment`);
- `keys/`: every secret, mode 0600, never printed (node, settler, client, deployer keys; `bls/<address>.key`).

The router and the validators read the registry from the chain themselves (`--rpc-url --deployment`), and
rebuild routing snapshots from it and the node stats streams every 16 blocks (`ax0n.runtime.snapshots`).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from web3 import Web3

from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import bls, commitment
from ax0n.spec.params import DEVNET, TOKEN
from ax0n.zk import artifacts, mlp
from ax0n.zk.models import Mode, ZkModel

LLM_MODEL, ZK_MODEL = "smollm2-135m", "mlp-devnet"
ZK_PUBLIC_MODEL = "mlp-devnet-public"  # the same weights in public-weight mode: its own circuit, key and verifier
TINY_MODEL = "tiny-llm"
CLUSTER = "devnet"
VALIDATORS = 4
PRICE_PER_1K = 10**15  # wei per 1k tokens
CLIENT_ESCROW = 100 * TOKEN
REWARD_POOL = 1_000_000 * TOKEN  # staking emission paid to the devnet's operators and validators
REPO = Path(__file__).resolve().parents[2]
SMOLLM2_DIR = REPO / ".cache" / "models" / "smollm2-135m-instruct"


@dataclass(frozen=True, slots=True)
class LlmModel:
    model_id: str
    path: Path
    commitment: bytes
    param_count: int


@dataclass
class Provisioned:
    """Where the provisioned files are, and what the services and the demo need to reach them."""

    dir: Path
    manifest: Manifest
    llm: LlmModel
    node_id: bytes  # the executor node's routing id: keccak256(operator)
    node_key_file: Path
    settler_key_file: Path
    client_key_file: Path
    bls_dir: Path
    deployment_file: Path


def llm_model(state_dir: Path) -> LlmModel:
    """SmolLM2-135M-Instruct if `make executor-models` converted it, else the executor's seeded tiny model."""
    if (SMOLLM2_DIR / ".converted").exists():
        root = commitment.commit(SMOLLM2_DIR)
        return LlmModel(LLM_MODEL, SMOLLM2_DIR, root, 134_515_008)
    tiny = state_dir / "models" / TINY_MODEL
    if not (tiny / "config.json").exists():
        from ax0n_executor import models  # torch; only when the tiny model has to be built

        models.build_tiny(tiny)
    return LlmModel(TINY_MODEL, tiny, commitment.commit(tiny), 10_000_000)


def _secret(path: Path, value: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return path


def provision(w3: Web3, funder_key: str, state_dir: Path) -> Provisioned:
    """Deploy and register everything on `w3` (automine expected: one block per transaction)."""
    keys = state_dir / "keys"
    deployer = Signer.from_key(w3, funder_key)
    llm = llm_model(state_dir)
    zk = mlp.devnet_model()
    zk_vk = artifacts.load(artifacts.MLP).vk_hash
    zk_public = ZkModel.load(zk, Mode.PUBLIC_WEIGHTS)
    models = (
        ModelSpec(model_key(ZK_MODEL), zk.commitment_bytes(), "zk", zk.parameter_count(), zk_vk, PRICE_PER_1K),
        ModelSpec(
            model_key(ZK_PUBLIC_MODEL),
            zk_public.commitment_bytes(),
            "zk",
            zk.parameter_count(),
            zk_public.vk_hash,
            PRICE_PER_1K,
            zk_mode="public",
            verifier=zk_public.artifacts.spec.contract,
        ),
        ModelSpec(model_key(llm.model_id), llm.commitment, "llm", llm.param_count, b"\0" * 32, PRICE_PER_1K),
    )
    manifest = deploy(w3, funder_key, params=DEVNET, models=models, reward_pool=REWARD_POOL)
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    settlement = manifest.contract(w3, "Settlement")

    def account(name: str) -> tuple[str, Signer]:
        key = "0x" + secrets.token_hex(32)
        _secret(keys / f"{name}.key", key)
        gas_money = {"from": deployer.address, "to": Account.from_key(key).address, "value": 10 * 10**18}
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction(gas_money))  # anvil's unlocked dev account
        return key, Signer.from_key(w3, key)

    def stake_node(who: Signer, signing_key: str, model_ids: list[bytes]) -> None:
        stake = DEVNET.min_node_stake
        deployer.transact(token.functions.transfer(who.address, stake))
        who.transact(token.functions.approve(nodes.address, stake))
        signing = Account.from_key(signing_key).address
        proof = signing_key_proof(signing_key, who.address, w3.eth.chain_id, nodes.address)
        who.transact(nodes.functions.register(stake, model_ids, "grpc://127.0.0.1", signing, CLUSTER, proof))

    _, operator = account("operator")
    node_key, _ = account("node")  # receipt signing key of the executor node (no funds needed, but harmless)
    stake_node(operator, node_key, [m.model_id for m in models])
    bls_dir = keys / "bls"
    for i in range(VALIDATORS):
        v_key, v = account(f"validator-{i}")
        stake_node(v, v_key, [])
        sk = bls.keygen(secrets.token_bytes(32))
        _secret(bls_dir / f"{v.address}.key", bytes(sk).hex())
        pop = bls.prove_possession(sk)
        v.transact(nodes.functions.registerValidatorKey(g1_uncompressed(bls.public_key(sk)), g2_uncompressed(pop)))
    account("settler")
    _, client = account("client")
    deployer.transact(token.functions.transfer(client.address, CLIENT_ESCROW))
    client.transact(token.functions.approve(settlement.address, CLIENT_ESCROW))
    client.transact(settlement.functions.deposit(CLIENT_ESCROW))

    deployment_file = state_dir / "deployment.json"
    manifest.save(deployment_file)
    return Provisioned(
        dir=state_dir,
        manifest=manifest,
        llm=llm,
        node_id=Web3.keccak(hexstr=operator.address),
        node_key_file=keys / "node.key",
        settler_key_file=keys / "settler.key",
        client_key_file=keys / "client.key",
        bls_dir=bls_dir,
        deployment_file=deployment_file,
    )
