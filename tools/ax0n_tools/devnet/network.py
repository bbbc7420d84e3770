"""The local devnet: redis-server (AOF), anvil, and every ax0n service, started in order and stopped in reverse."""

from __future__ import annotations

import json
import os
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc
from eth_account import Account
from tqdm import tqdm

from ax0n.mempool import acl
from ax0n.v1 import router_pb2, router_pb2_grpc
from ax0n_tools.devnet.ports import free_port
from ax0n_tools.devnet.provision import CLUSTER, PRICE_PER_1K, ZK_MODEL, ZK_PUBLIC_MODEL, Provisioned, provision
from ax0n_tools.devnet.redis import RedisServer
from ax0n_tools.devnet.services import ServiceProcess

STATE_DIR = Path(os.environ.get("AX0N_DEVNET_DIR", Path.home() / ".cache" / "ax0n" / "devnet"))
BLOCK_TIME_S = 1  # devnet block period after provisioning: settlement_frequency (5 blocks) is then ~5 s
ROUTABLE_TIMEOUT_S = 120.0
REEXECUTOR = "reexecutor"  # the validators' own re-executor process (Devnet(reexecutor=True))
ROLE = {name: name for name in acl.ROLES}  # service -> its Redis user; the re-executor reads nothing: "stats"


@dataclass
class DevnetState:
    """What `ax0n devnet status` and clients need to reach a running devnet."""

    redis_url: str
    rpc_url: str
    chain_id: int
    services: dict[str, dict[str, int | None]] = field(default_factory=dict)
    supervisor_pid: int = 0
    http_port: int = 0
    llm_model: str = ""
    zk_model: str = ""
    zk_public_model: str = ""  # the zk model in public-weight mode
    settlement: str = ""
    deployment: str = ""  # the deployment manifest (ax0n.chain.deploy.Manifest.load)
    client_key_file: str = ""

    @property
    def router_target(self) -> str:
        return f"127.0.0.1:{self.services['router']['grpc']}"

    @property
    def settler_target(self) -> str:
        return f"127.0.0.1:{self.services['settler']['grpc']}"

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> DevnetState:
        return cls(**json.loads(path.read_text()))


def wait_routable(router_target: str, model_id: str, timeout_s: float = ROUTABLE_TIMEOUT_S) -> int:
    """Wait until the router routes `model_id`; returns its snapshot block.

    A node is routed once a snapshot sees it live (heartbeats) in at least half of its stats window since it
    registered (`ax0n.spec.routing`: min_uptime_bps), so a node that registered before it started serving waits."""
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(router_target) as channel:
        router = router_pb2_grpc.RouterStub(channel)
        while True:
            try:
                return router.Route(
                    router_pb2.RouteRequest(request_id=b"\0" * 32, model_id=model_id), timeout=10
                ).snapshot_block
            except grpc.RpcError as exc:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"no node routable for {model_id!r} after {timeout_s:.0f} s: {exc.details()}"
                    ) from None
            time.sleep(0.5)


class Devnet:
    """Starts the devnet's processes; closing it stops them in reverse order."""

    def __init__(
        self,
        *,
        progress: bool = True,
        state_dir: Path | None = None,
        otlp_endpoint: str = "",
        executors: int = 1,
        reexecutor: bool = False,
        redis_cluster_url: str = "",
        mempool_shards: int = 1,
        images: dict[str, str] | None = None,
    ) -> None:
        self.progress = progress
        # executor processes: replicas of the one node, consuming its cluster's stream (0: the caller brings its own)
        self.executors = executors
        # validators re-execute LLM-tier receipts on their own compute, never on the node they judge: in-process
        # (--models) by default, or with reexecutor=True on an ax0n-reexecutor process of their own, as a
        # validator operator with a GPU pool runs it (its --reexecutor-target)
        self.reexecutor = reexecutor
        self.otlp_endpoint = otlp_endpoint  # every service exports its spans here when set
        # a Redis Cluster the caller runs (redis-cluster://), instead of the devnet's own redis-server with per-role
        # users; every service splits the global streams into `mempool_shards`
        self.redis_cluster_url, self.mempool_shards = redis_cluster_url, mempool_shards
        # service -> container image to run it from (podman, host network; ax0n_tools.images); else this venv
        self.images = images or {}
        self.dir = state_dir or STATE_DIR
        self.http_port = free_port()
        self.provisioned: Provisioned | None = None
        self.stack = ExitStack()
        self.redis: RedisServer | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.state: DevnetState | None = None

    def start(self) -> DevnetState:
        from ax0n_tools.devnet.anvil import Anvil

        steps = ["redis-server", "anvil", "provision", *self._instances(), "routable"]
        with tqdm(total=len(steps), desc="devnet", unit="step", disable=not self.progress) as bar:
            try:
                bar.set_postfix_str("redis-server")
                # each service connects as its own least-privilege user (ax0n.mempool.acl)
                if not self.redis_cluster_url:
                    self.redis = self.stack.enter_context(RedisServer(aof=True, roles=acl.ROLES))
                bar.update()
                bar.set_postfix_str("anvil")
                chain = self.stack.enter_context(Anvil())  # automine while provisioning
                bar.update()
                bar.set_postfix_str("deploy and register")
                self.provisioned = prov = provision(chain.web3, chain.accounts[0].key, self.dir)
                chain.web3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
                chain.web3.provider.make_request("evm_setIntervalMining", [BLOCK_TIME_S])  # type: ignore[arg-type]
                bar.update()
                for label, name in self._instances().items():
                    bar.set_postfix_str(f"ax0n-{label}")
                    args, env = self._service_args(label, name, chain.rpc_url, prov)
                    log = self.dir / "logs" / f"{label}.log"
                    log.parent.mkdir(parents=True, exist_ok=True)
                    log.unlink(missing_ok=True)
                    if self.otlp_endpoint:
                        args += ["--otlp-endpoint", self.otlp_endpoint]
                    url = self.redis.url_for(ROLE.get(name, "stats")) if self.redis else self.redis_cluster_url
                    args += ["--mempool-shards", str(self.mempool_shards)]
                    image = self.images.get("validator" if name == REEXECUTOR else name, "")
                    svc = ServiceProcess(name, url, "--profile", "devnet", *args, env=env, log=log, image=image)
                    self.stack.callback(svc.terminate)
                    self.services[label] = svc.start()
                    bar.update()
                bar.set_postfix_str("node routable")
                if self.executors:
                    wait_routable(self.services["router"].target, prov.llm.model_id)
                bar.update()
            except BaseException:
                self.stack.close()
                raise
        self.state = DevnetState(
            redis_url=self.redis.url if self.redis else self.redis_cluster_url,
            rpc_url=chain.rpc_url,
            chain_id=chain.chain_id,
            services={n: {"grpc": s.grpc_port, "metrics": s.metrics_port} for n, s in self.services.items()},
            http_port=self.http_port,
            llm_model=prov.llm.model_id,
            zk_model=ZK_MODEL,
            zk_public_model=ZK_PUBLIC_MODEL,
            settlement=prov.manifest.addresses["Settlement"],
            deployment=str(prov.deployment_file),
            client_key_file=str(prov.client_key_file),
        )
        return self.state

    def _instances(self) -> dict[str, str]:
        """Process label → service, in start order: each after the services it calls (the validator asks its
        re-executor, the settler asks the validator, the router asks the settler)."""
        out = {"executor" if i == 0 else f"executor-{i + 1}": "executor" for i in range(self.executors)}
        if self.reexecutor:
            out[REEXECUTOR] = REEXECUTOR
        return out | {name: name for name in ("prover", "validator", "settler", "router")}

    def _service_args(
        self, label: str, name: str, rpc_url: str, prov: Provisioned
    ) -> tuple[list[str], dict[str, str] | None]:
        """Flags (and secret environment variables) of process `label` (service `name`) from the provisioned files."""
        chain_id = ["--chain-id", str(prov.manifest.chain_id)]
        chain = ["--rpc-url", rpc_url, "--deployment", str(prov.deployment_file)]
        llm = f"{prov.llm.model_id}={prov.llm.path}@0x{prov.llm.commitment.hex()}"
        # who may make the costly calls: the validator process (signing as validator 0's account) its
        # re-executor's Reexecute, the settler the validator's SignBatch/SignFault (ax0n.spec.calls)
        caller_key = prov.bls_dir.parent / "validator-0.key"
        caller = Account.from_key(caller_key.read_text().strip()).address
        settler = Account.from_key(prov.settler_key_file.read_text().strip()).address
        if name == REEXECUTOR:
            return ["--models", llm, "--allowed-callers", caller], None
        if name == "router":
            return [
                *chain,
                "--http-port",
                str(self.http_port),
                "--settler-target",
                self.services["settler"].target,
                *chain_id,
            ], None
        if name == "executor":
            env = {"AX0N_NODE_KEY": prov.node_key_file.read_text().strip()}
            prices = ",".join(f"{m}={PRICE_PER_1K}" for m in (prov.llm.model_id, ZK_MODEL, ZK_PUBLIC_MODEL))
            return [
                "--models",
                llm,
                "--zk-models",
                f"{ZK_MODEL}=devnet,{ZK_PUBLIC_MODEL}=public:devnet",
                "--prices",
                prices,
                "--cluster",
                CLUSTER,
                "--node-id",
                prov.node_id.hex(),
                *chain_id,
            ], env
        if name == "prover":
            return ["--prove-concurrency", "1"], None
        if name == "validator":
            args = [*chain, "--keys-dir", str(prov.bls_dir), *chain_id, "--allowed-callers", settler]
            args += ["--caller-key-file", str(caller_key)]
            own = self.services.get(REEXECUTOR)
            return [*args, *(["--reexecutor-target", own.target] if own else ["--models", llm])], None
        if name == "settler":
            args = ["--rpc-url", rpc_url, "--settlement-address", prov.manifest.addresses["Settlement"]]
            args += ["--settler-key-file", str(prov.settler_key_file)]
            args += ["--validator-targets", self.services["validator"].target]
            return [*args, "--confirmations", "1", "--tick-s", "1"], None
        raise ValueError(f"unknown service {name!r}")

    def close(self) -> None:
        self.stack.close()

    def __enter__(self) -> Devnet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
