"""A private Redis Cluster for tests and benches: masters (and their replicas) on free ports, slots assigned by
`redis-cli --cluster create`."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ax0n_tools.devnet.ports import free_port, stop_process, wait_port

MASTERS = 3


class RedisClusterServers:
    """`masters * (1 + replicas)` `redis-server --cluster-enabled yes` processes joined into one cluster.

    With `appendonly`, each node keeps an AOF with `appendfsync everysec` (the usual production setting: a node
    that loses power loses up to a second of writes; replicas are written asynchronously either way)."""

    def __init__(
        self, masters: int = MASTERS, replicas: int = 0, *, node_timeout_ms: int = 5_000, appendonly: bool = False
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ax0n-cluster-"))
        count = masters * (1 + replicas)
        self.replicas, self.node_timeout_ms, self.appendonly = replicas, node_timeout_ms, appendonly
        self.ports = [free_port() for _ in range(count)]
        self.bus_ports = [free_port() for _ in range(count)]  # else port + 10000, which may not exist
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """The mempool's cluster URL (ax0n.mempool.connect): one node still running; the client discovers the rest."""
        return f"redis-cluster://127.0.0.1:{next(p for p in self.ports if p in self.procs)}"

    def __enter__(self) -> RedisClusterServers:
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", ""]
            args += ["--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec"]
            args += ["--protected-mode", "no", "--cluster-enabled", "yes", "--cluster-port", str(bus)]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", str(self.node_timeout_ms)]
            self.procs[port] = subprocess.Popen(
                ["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        for port in self.ports:
            if not wait_port("127.0.0.1", port, 10):
                self.__exit__()
                raise RuntimeError(f"cluster node on port {port} did not start")
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        create = ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", str(self.replicas)]
        subprocess.run([*create, "--cluster-yes"], check=True, capture_output=True)
        self.wait_ok(self.ports)
        return self

    def wait_ok(self, ports: list[int], timeout: float = 60.0) -> None:
        """Wait until every node in `ports` reports cluster_state:ok and, with replicas, sees them all linked."""
        deadline = time.monotonic() + timeout
        while not all(self._ok(p) for p in ports):
            if time.monotonic() > deadline:
                raise RuntimeError("cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def _ok(self, port: int) -> bool:
        info = self.cli(port, "cluster", "info")
        if "cluster_state:ok" not in info:
            return False
        if self.replicas and self.role(port) == "master":  # replication links up, not only slots covered
            return f"connected_slaves:{self.replicas}" in self.cli(port, "info", "replication")
        return True

    @staticmethod
    def cli(port: int, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True).stdout

    def role(self, port: int) -> str:
        """'master' or 'slave' (what INFO replication says), or '' when the node does not answer."""
        for line in self.cli(port, "info", "replication").splitlines():
            if line.startswith("role:"):
                return line.split(":", 1)[1].strip()
        return ""

    def replica_of(self, port: int) -> int:
        """The port of a replica of the master on `port`."""
        for line in self.cli(port, "info", "replication").splitlines():
            if line.startswith("slave0:"):
                fields = dict(part.split("=", 1) for part in line.split(":", 1)[1].split(","))
                return int(fields["port"])
        raise RuntimeError(f"node {port} has no replica")

    def offset(self, port: int) -> int:
        """The node's replication offset (a master's, or how far a replica has applied its master's stream)."""
        for line in self.cli(port, "info", "replication").splitlines():
            if line.startswith("master_repl_offset:"):
                return int(line.split(":", 1)[1])
        raise RuntimeError(f"node {port} does not answer")

    def kill(self, port: int) -> None:
        """SIGKILL the node on `port`: no shutdown, no last write (a crashed machine, as far as Redis can tell)."""
        proc = self.procs.pop(port)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs.values():
            stop_process(proc)
        shutil.rmtree(self.dir, ignore_errors=True)
