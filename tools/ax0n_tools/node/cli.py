"""`axon-node`: an executor operator's commands — init (encrypted keystore), stake, start, status."""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from eth_utils import keccak
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsConfigDict

from ax0n.chain.deploy import Manifest, model_key
from ax0n_tools.node import keystore
from ax0n_tools.node.registry import NodeError, Registry, fmt, parse_amount

HOME = Path(os.environ.get("AX0N_NODE_HOME", Path.home() / ".ax0n" / "node"))
CONFIG_FILE = "config.json"


def _password(confirm: bool = False) -> str:
    """The keystore password: $AX0N_KEYSTORE_PASSWORD, else asked for on the terminal."""
    if secret := os.environ.get(keystore.PASSWORD_ENV):
        return secret
    if not sys.stdin.isatty():
        raise NodeError(f"no terminal to ask for the keystore password: set {keystore.PASSWORD_ENV}")
    first = getpass.getpass("keystore password: ")
    if confirm and getpass.getpass("again: ") != first:
        raise NodeError("the two passwords differ")
    return first


KEY_ENV = "AX0N_PRIVATE_KEY"
# Settings a flag gives, else the environment, else the node's config.json (written by `axon-node init`).
SAVED = {
    "rpc_url": "AX0N_RPC_URL",
    "deployment": "AX0N_DEPLOYMENT",
    "models": "AX0N_MODELS",
    "zk_models": "AX0N_ZK_MODELS",
    "cluster": "AX0N_CLUSTER",
    "endpoint": "AX0N_ENDPOINT",
}
ARGV_KEY_WARNING = (
    "axon-node: warning: a key given on the command line is visible to other local users (ps, /proc) and may stay "
    f"in your shell history; next time use `--key -` (typed hidden, or piped on stdin) or `--key-env` (reads ${KEY_ENV})"
)


def _read_key() -> str:
    """A private key to import, typed hidden on a terminal or piped on stdin."""
    key = getpass.getpass("private key (hex): ") if sys.stdin.isatty() else sys.stdin.readline()
    return key.strip()


def _config(home: Path) -> dict[str, str]:
    path = home / CONFIG_FILE
    return json.loads(path.read_text()) if path.exists() else {}


class Chain(BaseModel):
    home: Path = Field(HOME, description="node directory: keystore and config ($AX0N_NODE_HOME)")
    rpc_url: str = Field("", description="Ethereum JSON-RPC URL (default: $AX0N_RPC_URL, else the one saved by init)")
    deployment: str = Field(
        "", description="deployment manifest JSON (default: $AX0N_DEPLOYMENT, else the one saved by init)"
    )

    def setting(self, name: str, given: str = "") -> str:
        """Setting `name`: `given` (its flag) when set, else its environment variable (SAVED), else the saved config."""
        return given or os.environ.get(SAVED[name], "") or _config(self.home).get(name, "")

    def registry(self) -> Registry:
        rpc_url, deployment = self.setting("rpc_url", self.rpc_url), self.setting("deployment", self.deployment)
        if not rpc_url or not deployment:
            raise NodeError(
                "no chain configured: pass --rpc-url and --deployment, set $AX0N_RPC_URL and $AX0N_DEPLOYMENT, "
                "or give them to `axon-node init`"
            )
        return Registry(rpc_url, Manifest.load(deployment))


class Init(Chain):
    """Create the node's encrypted keystore (scrypt; password from $AX0N_KEYSTORE_PASSWORD or the terminal) and
    save the node's settings for `stake` and `start`. --key imports an existing private key: `--key -` reads it
    typed hidden (or from stdin), `--key-env` from $AX0N_PRIVATE_KEY, `--key 0x...` from the command line (works,
    but other local users can read it there)."""

    key: str = Field(
        "", description="import this private key: '-' to type it hidden (or pipe it on stdin), or the hex key"
    )
    key_env: bool = Field(False, description=f"import the private key in ${KEY_ENV}")
    force: bool = Field(False, description="replace an existing keystore (its key is lost)")
    models: str = Field("", description="saved for stake/start: LLM-tier models, comma-separated MODEL_ID=DIR")
    zk_models: str = Field(
        "", description="saved for stake/start: zk-tier models, MODEL_ID=devnet or MODEL_ID=FILE.json"
    )
    cluster: str = Field("", description="saved for stake: the executor cluster to register in")
    endpoint: str = Field("", description="saved for stake: the node's public endpoint")

    def imported_key(self) -> str | None:
        if self.key and self.key_env:
            raise NodeError("give --key or --key-env, not both")
        if self.key_env:
            if not (key := os.environ.get(KEY_ENV, "").strip()):
                raise NodeError(f"--key-env: ${KEY_ENV} is empty")
            return key
        if self.key == "-":
            return _read_key()
        if self.key:
            print(ARGV_KEY_WARNING, file=sys.stderr)
            return self.key
        return None

    def cli_cmd(self) -> None:
        account = keystore.create(self.home, _password(confirm=True), self.imported_key(), force=self.force)
        saved = {name: value for name in SAVED if (value := getattr(self, name))}
        (self.home / CONFIG_FILE).write_text(json.dumps(saved, indent=2))
        print(f"keystore  {self.home / keystore.KEYSTORE_FILE} (encrypted)")
        print(f"address   {account.address}")
        print("next: fund it with ETH for gas and ax0n to stake, then `axon-node stake --amount <ax0n>`")


class Stake(Chain):
    """Stake ax0n: the first stake registers the node (≥ min_node_stake, with the models it serves, its endpoint
    and its executor cluster; the keystore's key signs receipts); later stakes add to it."""

    amount: str = Field(description="ax0n to stake (decimal, e.g. 1000 or 1000.5)")
    models: str = Field(
        "", description="first stake only: comma-separated model ids the node serves (default: the models it serves)"
    )
    endpoint: str = Field(
        "", description="first stake only: the node's public endpoint (default: saved, else grpc://127.0.0.1:50052)"
    )
    cluster: str = Field(
        "",
        description="first stake only: executor cluster, requests reach it on ax0n:req:CLUSTER (default: saved, "
        "else default)",
    )

    def model_ids(self) -> list[str]:
        """--models, else the ids of the models `start` serves (settings saved by init, or the environment)."""
        if self.models:
            return [m.strip() for m in self.models.split(",") if m.strip()]
        served = [
            *_pairs(self.setting("models"), "saved models"),
            *_pairs(self.setting("zk_models"), "saved zk models"),
        ]
        return [model_id for model_id, _ in served]

    def cli_cmd(self) -> None:
        amount = parse_amount(self.amount)
        reg = self.registry()
        account = keystore.unlock(self.home, _password())
        endpoint = self.setting("endpoint", self.endpoint) or "grpc://127.0.0.1:50052"
        cluster = self.setting("cluster", self.cluster) or "default"
        done, record = reg.stake(account, amount, self.model_ids(), endpoint, cluster)
        print(f"{account.address}: {done}; stake now {fmt(record['stake'])}")


class Start(Chain):
    """Serve the registered models: checks the node is registered and active, takes each model's commitment
    and price from ModelRegistry, and runs `ax0n-executor` in the foreground with the unlocked key."""

    models: str = Field(
        "", description="LLM-tier models, comma-separated MODEL_ID=DIR (Hugging Face layout; default: saved by init)"
    )
    zk_models: str = Field(
        "", description="zk-tier models, comma-separated MODEL_ID=devnet or MODEL_ID=FILE.json (default: saved)"
    )
    redis_url: str = Field(
        default_factory=lambda: os.environ.get("AX0N_REDIS_URL", "redis://127.0.0.1:6379/0"),
        description="the mempool's Redis ($AX0N_REDIS_URL)",
    )
    cluster: str = Field(
        "", description="executor cluster whose request stream to consume (default: the registered one)"
    )
    grpc_port: int = Field(0, description="executor gRPC port (0: its default)")
    profile: str = Field(
        default_factory=lambda: os.environ.get("AX0N_PROFILE", "mainnet"),
        description="protocol parameter profile, mainnet or devnet ($AX0N_PROFILE)",
    )

    def cli_cmd(self) -> None:
        reg = self.registry()
        account = keystore.unlock(self.home, _password())
        record = reg.node(account.address)
        if not record["registered"] or not reg.nodes.functions.isActive(account.address).call():
            raise NodeError(f"{account.address} is not an active node: `axon-node stake --amount 1000` registers it")
        if self.cluster and self.cluster != record["cluster"]:
            raise NodeError(
                f"this node is registered in cluster {record['cluster']!r}, not {self.cluster!r}: routing sends its "
                f"requests to ax0n:req:{record['cluster']}"
            )
        cluster = record["cluster"]
        registered = {bytes(k) for k in record["modelIds"]}
        llm = dict(_pairs(self.setting("models", self.models), "--models"))
        zk = dict(_pairs(self.setting("zk_models", self.zk_models), "--zk-models"))
        if not llm and not zk:
            raise NodeError(
                "nothing to serve: pass --models MODEL_ID=DIR and/or --zk-models MODEL_ID=devnet (or save them with "
                "`axon-node init`, or set $AX0N_MODELS / $AX0N_ZK_MODELS)"
            )
        served, prices = [], []
        for model_id, source in [*llm.items(), *zk.items()]:
            if model_key(model_id) not in registered:
                raise NodeError(f"this node did not register model {model_id!r}; it registered other models")
            rec = reg.model(model_id)
            if (rec.tier == "zk") != (model_id in zk):
                raise NodeError(
                    f"model {model_id!r} is {rec.tier}-tier: pass it with --{'zk-' * (rec.tier == 'zk')}models"
                )
            if rec.tier == "llm":
                served.append(f"{model_id}={source}@0x{rec.commitment.hex()}")
            prices.append(f"{model_id}={rec.price_per_1k}")
        args = [str(Path(sys.executable).parent / "ax0n-executor"), "--redis-url", self.redis_url]
        args += ["--cluster", cluster, "--profile", self.profile, "--prices", ",".join(prices)]
        # heartbeats name the routing node id (keccak256 of the operator) and are signed for this chain
        args += ["--node-id", keccak(hexstr=account.address).hex(), "--chain-id", str(reg.manifest.chain_id)]
        args += ["--models", ",".join(served)] if served else []
        args += ["--zk-models", ",".join(f"{m}={s}" for m, s in zk.items())] if zk else []
        args += ["--grpc-port", str(self.grpc_port)] if self.grpc_port else []
        print(f"{account.address}: serving {', '.join([*llm, *zk])} in cluster {cluster}", flush=True)
        env = {**os.environ, "AX0N_NODE_KEY": account.key.hex()}  # the key goes to the executor's environment only
        os.execve(args[0], args, env)


def _pairs(spec: str, flag: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        if not (sep and key and value):
            raise NodeError(f"bad {flag} entry {item!r}: expected MODEL_ID=SOURCE")
        out.append((key, value))
    return out


class Status(Chain):
    """The node's address, balances and NodeRegistry record (no password needed)."""

    def cli_cmd(self) -> None:
        address = keystore.address(self.home)
        reg = self.registry()
        eth, tokens = reg.balances(address)
        record = reg.node(address)
        print(f"address     {address}")
        print(f"balances    {eth / 10**18:.4f} ETH, {fmt(tokens)}")
        if not record["registered"]:
            print("registered  no (`axon-node stake --amount ... --models ...` registers it)")
            return
        active = reg.nodes.functions.isActive(address).call()
        models = [bytes(k).rstrip(b"\0").decode("utf-8", "replace") for k in record["modelIds"]]
        state = "active" if active else "INACTIVE (stake below min_node_stake)"
        print(f"registered  yes (block {record['registeredAt']}), {state}")
        print(f"stake       {fmt(record['stake'])}")
        if record["unbonding"]:
            print(f"unbonding   {fmt(record['unbonding'])} (withdrawable from block {record['unbondableAt']})")
        print(f"models      {', '.join(models)}")
        print(f"endpoint    {record['endpoint']}")
        print(f"cluster     {record['cluster']}")
        print(f"signs with  {record['signingKey']}")
        print(f"rewards     {fmt(reg.nodes.functions.pendingRewards(address).call())} claimable (`axon-node claim`)")


class Claim(Chain):
    """Claim the staking emission accrued to this node (paid from NodeRegistry's reward pool)."""

    def cli_cmd(self) -> None:
        reg = self.registry()
        account = keystore.unlock(self.home, _password())
        paid, left = reg.claim(account)
        print(f"{account.address}: claimed {fmt(paid)}" + (f"; {fmt(left)} still owed (pool short)" if left else ""))


class AxonNode(BaseSettings):
    """axon-node: run an ax0n executor node (keystore, stake, serve, status)."""

    model_config = SettingsConfigDict(cli_kebab_case=True, cli_implicit_flags=True, cli_prog_name="axon-node")

    init: CliSubCommand[Init] = Field(description="create the encrypted keystore (--key / --key-env import a key)")
    stake: CliSubCommand[Stake] = Field(description="stake ax0n; the first stake registers the node")
    start: CliSubCommand[Start] = Field(description="serve the registered models (runs ax0n-executor)")
    status: CliSubCommand[Status] = Field(description="address, balances and registry record")
    claim: CliSubCommand[Claim] = Field(description="claim accrued staking rewards (2.1 % a year)")

    def cli_cmd(self) -> None:
        CliApp.run_subcommand(self)


def main(argv: list[str] | None = None) -> None:
    try:
        CliApp.run(AxonNode, cli_args=argv)
    except (NodeError, keystore.KeystoreError) as exc:
        raise SystemExit(f"axon-node: {exc}") from None
