"""Run ax0n service processes locally and wait until they are ready and healthy."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ax0n_tools.devnet.ports import free_port

SERVICES: dict[str, str] = {
    "router": "ax0n.v1.Router",
    "executor": "ax0n.v1.Executor",
    "prover": "ax0n.v1.Prover",
    "validator": "ax0n.v1.Validator",
    "settler": "ax0n.v1.Settler",
    "reexecutor": "ax0n.v1.Reexecutor",
}
OUTPUT_LINES = 2_000  # lines of a service's output kept for error messages
READY = re.compile(r"ready grpc=[\w.:]+:(\d+) metrics=(\d+|None)")


class ServiceProcess:
    """`ax0n-<name>` as a child process on free ports."""

    def __init__(
        self,
        name: str,
        redis_url: str,
        *extra: str,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        image: str = "",
    ) -> None:
        self.name = name
        self.log = log.open("a", buffering=1) if log is not None else None  # also append the output here
        self.env = None if env is None else {**os.environ, **env}  # secrets go here, never on the command line
        self.grpc_port = free_port()
        self.metrics_port: int | None = None
        self.output: list[str] = []
        binary = Path(sys.executable).parent / f"ax0n-{name}"
        self.args = [str(binary), "--host", "127.0.0.1", "--grpc-port", str(self.grpc_port)]
        self.args += ["--metrics-port", "0", "--redis-url", redis_url, *extra]
        if image:  # the same service and flags, from its container image (ax0n_tools.images)
            from ax0n_tools import images

            self.args = images.run_command(name, image, self.args[1:], env or {})
            self.env = images.environment(Path.home() / ".cache" / "ax0n" / "podman") | (env or {})
        self.proc: subprocess.Popen[str] | None = None
        self._drainer: threading.Thread | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> ServiceProcess:
        """Start and block until the service prints its ready line; raise with its output if it exits first."""
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._keep(line)
            if match := READY.search(line):
                self.metrics_port = None if match.group(2) == "None" else int(match.group(2))
                # keep draining: a service that logs a lot must never block on a full pipe
                self._drainer = threading.Thread(target=self._drain, name=f"ax0n-{self.name}-stdout", daemon=True)
                self._drainer.start()
                return self
        self.proc.wait()
        raise RuntimeError(f"ax0n-{self.name} exited with {self.proc.returncode}:\n{''.join(self.output)}")

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self._keep(line)
            del self.output[:-OUTPUT_LINES]

    def _keep(self, line: str) -> None:
        self.output.append(line)
        if self.log is not None:
            self.log.write(line)

    def healthy(self, timeout: float = 5.0) -> bool:
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICES[self.name]), timeout=timeout)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, wait, and return the exit code (SIGKILL if it does not exit in time)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self._drainer is not None:
            self._drainer.join(5)  # the pipe is at EOF once the process is gone
        if self.log is not None and not (self._drainer and self._drainer.is_alive()):
            self.log.close()  # left to the garbage collector while a child of the service still holds the pipe
        return self.proc.returncode
