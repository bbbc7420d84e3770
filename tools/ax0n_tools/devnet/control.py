"""Start, stop and inspect a detached devnet (the `ax0n devnet` commands)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from tqdm import tqdm

from ax0n_tools.devnet.network import STATE_DIR, DevnetState
from ax0n_tools.devnet.services import SERVICES

STATE_FILE = "state.json"
LOG_FILE = "supervisor.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def up(state_dir: Path = STATE_DIR, timeout: float = 180.0) -> DevnetState:
    """Start the devnet in a detached supervisor and wait until every process is up."""
    state_path = state_dir / STATE_FILE
    if state_path.exists():
        state = DevnetState.load(state_path)
        if _alive(state.supervisor_pid):
            raise SystemExit(f"a devnet is already running (supervisor pid {state.supervisor_pid}); `ax0n devnet down`")
        state_path.unlink()
    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / LOG_FILE).open("w") as log:  # the supervisor keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "ax0n_tools.devnet.supervisor", str(state_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    with tqdm(desc="starting devnet", unit="s", bar_format="{desc}: {elapsed}") as bar:
        while not state_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                tail = (state_dir / LOG_FILE).read_text()[-3000:]
                raise SystemExit(f"devnet failed to start (see {state_dir / LOG_FILE}):\n{tail}")
            time.sleep(0.2)
            bar.update()
    return DevnetState.load(state_path)


def down(state_dir: Path = STATE_DIR, timeout: float = 60.0) -> bool:
    """Stop a running devnet; False if none was running."""
    state_path = state_dir / STATE_FILE
    if not state_path.exists():
        return False
    pid = DevnetState.load(state_path).supervisor_pid
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return True


def status(state_dir: Path = STATE_DIR) -> list[tuple[str, str, str]]:
    """(component, address, state) rows for a running devnet; empty if none runs."""
    state_path = state_dir / STATE_FILE
    return rows(DevnetState.load(state_path)) if state_path.exists() else []


def rows(state: DevnetState) -> list[tuple[str, str, str]]:
    """(component, address, health) of each part of the devnet described by `state`."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    out = [("redis", state.redis_url, "up"), ("anvil", state.rpc_url, f"chain id {state.chain_id}")]
    for name, ports in state.services.items():
        target = f"127.0.0.1:{ports['grpc']}"
        try:
            with grpc.insecure_channel(target) as channel:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=SERVICES[name.split("-")[0]]), timeout=2
                )
            health = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            health = f"unreachable ({exc.code().name})"
        out.append((f"ax0n-{name}", target, health))
    if state.http_port:
        out.append(("openai http", f"http://127.0.0.1:{state.http_port}/v1", "router"))
    return out
