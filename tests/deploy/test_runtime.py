"""The chart's rendered configuration run for real: its redis.conf in redis-server, its environment in the service runner.

A kubelet is not available here, so the tests do its two jobs themselves: resolve env (values, Secret and ConfigMap
references, the downward API) and expand $(VAR) references, then start the processes on free loopback ports.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from ax0n_tools.devnet.ports import free_port, wait_port

from ax0n.runtime.config import DEFAULT_PORTS

from .conftest import CPU_MODEL, NAMESPACE, Manifest, Rendered
from .test_dockerfiles import HEALTHCHECK

PASSWORD = "Chart-Rendered-Passw0rd"
REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined variables are substituted, $$ escapes, unknown ones stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), value)


def pod_env(rendered: Rendered, workload: Manifest, pod_name: str) -> dict[str, str]:
    """The environment a kubelet would give the workload's first container."""
    container = workload["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(rendered.get("ConfigMap", source["configMapRef"]["name"])["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        ref = item["valueFrom"]
        if "secretKeyRef" in ref:
            secret = rendered.get("Secret", ref["secretKeyRef"]["name"])
            key = ref["secretKeyRef"]["key"]
            env[item["name"]] = secret.get("stringData", {}).get(key) or base64.b64decode(secret["data"][key]).decode()
        elif ref["fieldRef"]["fieldPath"] == "metadata.name":
            env[item["name"]] = pod_name
        elif ref["fieldRef"]["fieldPath"] == "metadata.namespace":
            env[item["name"]] = NAMESPACE
        else:
            env[item["name"]] = "0"  # apps.kubernetes.io/pod-index of the first StatefulSet pod
    return env


@pytest.fixture
def chart_redis(render, tmp_path: Path) -> Iterator[int]:
    """redis-server run with the chart's redis.conf and container args (password from the chart's Secret)."""
    rendered = render({"redis": {"auth": {"password": PASSWORD}}})
    conf = rendered.component("ConfigMap", "redis-config")["data"]["redis.conf"]
    (tmp_path / "redis.conf").write_text(conf.replace("dir /data", f"dir {tmp_path}"))
    statefulset = rendered.component("StatefulSet", "redis")
    env = pod_env(rendered, statefulset, "mesh-ax0n-redis-0")
    args = [
        expand(a, env).replace("/etc/redis/redis.conf", str(tmp_path / "redis.conf"))
        for a in statefulset["spec"]["template"]["spec"]["containers"][0]["args"]
    ]
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, *args, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_port("127.0.0.1", port, 10), "redis-server did not start with the chart's configuration"
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@needs_redis
def test_chart_redis_config_persists_with_aof(chart_redis: int, tmp_path: Path) -> None:
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=chart_redis).ping()
    client = redis.Redis(port=chart_redis, password=PASSWORD)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    client.xadd("ax0n:req:default", {"k": "v"})
    client.close()
    assert any(tmp_path.glob("appendonlydir/*.aof")), "no AOF files written"


def wait_serving(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline and proc.poll() is None:
        check = subprocess.run(
            [sys.executable, str(HEALTHCHECK), f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30
        )
        last = check.stdout.strip()
        if check.returncode == 0:
            return last
        time.sleep(0.3)
    return last


def test_validator_init_container_copies_only_its_own_key(render, tmp_path: Path) -> None:
    """The init container's shell command, run with the pod index the downward API gives pod 1."""
    statefulset = render({"validator": {"replicas": 3}}).component("StatefulSet", "validator")
    (init,) = statefulset["spec"]["template"]["spec"]["initContainers"]
    assert init["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.labels['apps.kubernetes.io/pod-index']"
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    every, own = tmp_path / "all-keys", tmp_path / "bls"
    every.mkdir()
    own.mkdir()
    for i in range(3):
        (every / f"validator-{i}.key").write_text(f"{i:064x}\n")
    shell, flag, script = init["command"]
    script = script.replace(mounts["all-keys"], str(every)).replace(mounts["bls-keys"], str(own))
    environ = {"PATH": os.environ["PATH"], "POD_INDEX": "1"}
    subprocess.run([shell, flag, script], env=environ, check=True, timeout=10)
    assert [p.name for p in own.iterdir()] == ["validator-1.key"]
    assert (own / "validator-1.key").read_text() == f"{1:064x}\n"
    assert (own / "validator-1.key").stat().st_mode & 0o777 == 0o400
    missing = subprocess.run([shell, flag, script], env={**environ, "POD_INDEX": "7"}, capture_output=True, timeout=10)
    assert missing.returncode != 0, "a pod without a key of its own must not start"


# The shared runner every service's entry point calls (ax0n.runtime.service.main), with no servicers of its own: this checks
# the chart's part (ports, Redis URL, settings from env, health, SIGTERM) apart from each service's own required config.
RUNNER = """
import sys
from ax0n.runtime import service
service.main(sys.argv[1], lambda s: service.ServiceSpec(name=sys.argv[1], register=lambda server: None, service_names=[]), argv=[])
"""


@needs_redis
@pytest.mark.parametrize("service", list(DEFAULT_PORTS))
def test_service_runner_starts_from_the_rendered_environment(render, chart_redis: int, service: str) -> None:
    """Given exactly the env the chart renders, a service binds the port its gRPC probes check and serves health."""
    grpc_port, metrics_port = free_port(), free_port()
    values: dict[str, Any] = {
        "redis": {"enabled": False},
        "externalRedis": {"host": "127.0.0.1", "port": chart_redis, "password": PASSWORD},
        "otel": {"enabled": False},
        "metricsPort": metrics_port,
        service: {"port": grpc_port},
        "models": [CPU_MODEL],
    }
    rendered = render(values)
    kind = "StatefulSet" if service == "validator" else "Deployment"
    workload = rendered.component(kind, service)
    env = pod_env(rendered, workload, f"mesh-ax0n-{service}-0")
    probe_port = workload["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"]
    assert probe_port == grpc_port

    # The URL the service will use reaches the chart's Redis and authenticates.
    client = redis.Redis.from_url(env["AX0N_REDIS_URL"])
    assert client.ping()
    client.close()

    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, service],
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        status = wait_serving(probe_port, proc)
        assert status == f"127.0.0.1:{probe_port} SERVING", f"{service} not serving on its probe port: {status!r}"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log[-2000:]
    assert f"ax0n-{service} ready grpc=0.0.0.0:{grpc_port} metrics={metrics_port}" in log
