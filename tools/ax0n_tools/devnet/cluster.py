"""A private Redis Cluster for tests and benches: three masters on free ports, slots assigned by `redis-cli --cluster create`."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ax0n_tools.devnet.ports import free_port, stop_process, wait_port

MASTERS = 3


class RedisClusterServers:
    """Three `redis-server --cluster-enabled yes` processes joined into one cluster (no replicas)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ax0n-cluster-"))
        self.ports = [free_port() for _ in range(MASTERS)]
        self.bus_ports = [free_port() for _ in range(MASTERS)]  # else port + 10000, which may not exist
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The mempool's cluster URL (ax0n.mempool.connect): any one node; the client discovers the rest."""
        return f"redis-cluster://127.0.0.1:{self.ports[0]}"

    def __enter__(self) -> RedisClusterServers:
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            args = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", ""]
            args += ["--appendonly", "no", "--protected-mode", "no", "--cluster-enabled", "yes"]
            args += [
                "--cluster-port",
                str(bus),
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ]
            self.procs.append(
                subprocess.Popen(["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        for port in self.ports:
            if not wait_port("127.0.0.1", port, 10):
                self.__exit__()
                raise RuntimeError(f"cluster node on port {port} did not start")
        nodes = [f"127.0.0.1:{p}" for p in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while not all(self._ok(p) for p in self.ports):
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        return self

    @staticmethod
    def _ok(port: int) -> bool:
        out = subprocess.run(["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True, text=True)
        return "cluster_state:ok" in out.stdout

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            stop_process(proc)
        shutil.rmtree(self.dir, ignore_errors=True)
