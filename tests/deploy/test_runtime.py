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

import grpc
import pytest
import redis
from ax0n_tools.devnet.ports import free_port, wait_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ax0n.mempool import acl
from ax0n.runtime.config import DEFAULT_PORTS

from .conftest import CPU_MODEL, NAMESPACE, Manifest, Rendered
from .test_dockerfiles import HEALTHCHECK

PASSWORD = "Chart-Rendered-Passw0rd"
REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes $(VAR) expansion: defined variables are substituted, $$ escapes, unknown ones stay."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]), value)


def pod_env(rendered: Rendered, workload: Manifest, pod_name: str, container: dict | None = None) -> dict[str, str]:
    """The environment a kubelet would give `container` (default: the workload's first container)."""
    container = container or workload["spec"]["template"]["spec"]["containers"][0]
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


def secret_value(rendered: Rendered, name: str, key: str) -> str:
    return base64.b64decode(rendered.get("Secret", name)["data"][key]).decode()


# One release for the module: its random passwords and certificates are those the Redis and the services below use.
PORTS = {service: free_port() for service in DEFAULT_PORTS}
METRICS_PORT, HEALTH_PORT = free_port(), free_port()


@pytest.fixture(scope="module")
def release(render) -> Rendered:
    return render(
        {
            "redis": {"auth": {"password": PASSWORD}},
            "otel": {"enabled": False},
            "metricsPort": METRICS_PORT,
            "probes": {"healthPort": HEALTH_PORT},
            **{service: {"port": port} for service, port in PORTS.items()},
            "models": [CPU_MODEL],
        }
    )


@pytest.fixture(scope="module")
def chart_redis(release: Rendered, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """redis-server run as the chart's pod runs it: the init container's script writes the ACL file from the
    rules ConfigMap and the role Secrets, then redis-server starts with the chart's redis.conf and args."""
    tmp = tmp_path_factory.mktemp("redis")
    statefulset = release.component("StatefulSet", "redis")
    pod = statefulset["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    rules, users = tmp / "acl", tmp / "users"
    rules.mkdir()
    users.mkdir()
    for role, line in release.component("ConfigMap", "redis-acl")["data"].items():
        (rules / role).write_text(line)
    shell, flag, script = init["command"]
    script = script.replace(mounts["acl"], str(rules)).replace(mounts["users"], str(users))
    environ = {"PATH": os.environ["PATH"], **pod_env(release, statefulset, "mesh-ax0n-redis-0", init)}
    subprocess.run([shell, flag, script], env=environ, check=True, timeout=10)
    conf = release.component("ConfigMap", "redis-config")["data"]["redis.conf"]
    conf = conf.replace("dir /data", f"dir {tmp}").replace(mounts["users"], str(users))
    (tmp / "redis.conf").write_text(conf)
    args = [a.replace("/etc/redis/redis.conf", str(tmp / "redis.conf")) for a in pod["containers"][0]["args"]]
    port = free_port()
    proc = subprocess.Popen(
        [REDIS_SERVER, *args, "--port", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_port("127.0.0.1", port, 10), "redis-server did not start with the chart's configuration"
        yield port, tmp
    finally:
        proc.terminate()
        proc.wait(10)


def role_client(release: Rendered, port: int, role: str) -> redis.Redis:
    """A client logged in as `role` with the chart's Secret for it."""
    secret = f"mesh-ax0n-redis-{role}"
    return redis.Redis(
        port=port,
        username=secret_value(release, secret, "username"),
        password=secret_value(release, secret, "password"),
    )


@needs_redis
def test_chart_redis_config_persists_with_aof(chart_redis: tuple[int, Path]) -> None:
    port, data_dir = chart_redis
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    client = redis.Redis(port=port, password=PASSWORD)  # the administrator (default user)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    client.xadd("ax0n:req:default", {"k": "v"})
    client.close()
    assert any(data_dir.glob("appendonlydir/*.aof")), "no AOF files written"


@needs_redis
def test_chart_redis_users_are_the_acl_rules_with_their_secrets(release: Rendered, chart_redis) -> None:
    """Each role logs in with its own Secret and gets exactly ax0n/mempool/acl.py's rules: an executor cannot forge
    a final or delete a nonce; KEDA's TriggerAuthentication (the stats user) reads the backlog, not the requests."""
    port, _ = chart_redis
    admin = redis.Redis(port=port, password=PASSWORD)
    admin.set("ax0n:router:nonce:c1:7", "used")
    admin.xadd("ax0n:req:scaled", {"prompt": "private"})
    admin.xgroup_create("ax0n:req:scaled", "executors", id="0")
    for role in acl.ROLES:
        client = role_client(release, port, role)
        assert client.acl_whoami() == role
        assert admin.acl_getuser(role)["passwords"] != []
        client.close()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port, username="executor", password=PASSWORD).ping()  # another's password
    executor = role_client(release, port, "executor")
    for forbidden in (
        lambda: executor.xadd("ax0n:final", {"forged": "final"}),
        lambda: executor.delete("ax0n:router:nonce:c1:7"),
        lambda: executor.set("ax0n:settler:queue", "x"),
        lambda: executor.xadd("ax0n:latency", {"sample": "unsigned"}),
        lambda: executor.xadd("ax0n:req:scaled", {"copy": "of a request"}),  # it only consumes requests
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()
    assert executor.xadd("ax0n:exec", {"a": "1"})  # what it is for
    assert admin.get("ax0n:router:nonce:c1:7") == b"used"
    stats = role_client(release, port, "stats")
    assert stats.xinfo_groups("ax0n:req:scaled")[0]["lag"] == 1  # as KEDA's TriggerAuthentication (test_chart)
    with pytest.raises(redis.exceptions.NoPermissionError):
        stats.xrange("ax0n:req:scaled")
    for c in (admin, executor, stats):
        c.close()


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
# the chart's part (ports, Redis user, TLS, settings from env, health, SIGTERM) apart from each service's own config.
RUNNER = """
import sys
from ax0n.runtime import service
service.main(sys.argv[1], lambda s: service.ServiceSpec(name=sys.argv[1], register=lambda server: None, service_names=[]), argv=[])
"""


def tls_health(port: int, ca: bytes, name: str) -> str:
    """grpc.health.v1 Check over TLS to 127.0.0.1:`port`, verifying the certificate against `ca` for host `name`."""
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    options = [("grpc.ssl_target_name_override", name)]
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError as err:
            return err.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


@needs_redis
@pytest.mark.parametrize("service", list(DEFAULT_PORTS))
def test_service_runner_starts_from_the_rendered_environment(
    release: Rendered, chart_redis, service: str, tmp_path: Path
) -> None:
    """Given exactly the env the chart renders, a service serves gRPC over TLS with its own certificate, health in
    plaintext on the port its probes check, and reaches Redis as its own user."""
    port, _ = chart_redis
    kind = "StatefulSet" if service == "validator" else "Deployment"
    workload = release.component(kind, service)
    env = pod_env(release, workload, f"mesh-ax0n-{service}-0")
    probe_port = workload["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"]
    assert probe_port == HEALTH_PORT
    # What the kubelet mounts: the service's own certificate Secret where AX0N_TLS_* point.
    (mount,) = [
        m for m in workload["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "grpc-tls"
    ]
    (volume,) = [v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "grpc-tls"]
    secret = volume["secret"]["secretName"]
    for key in ("tls.crt", "tls.key", "ca.crt"):
        (tmp_path / key).write_text(secret_value(release, secret, key))
    env = {k: v.replace(mount["mountPath"], str(tmp_path)) for k, v in env.items()}
    env["AX0N_REDIS_URL"] = env["AX0N_REDIS_URL"].replace(f"mesh-ax0n-redis.{NAMESPACE}.svc:6379", f"127.0.0.1:{port}")

    # The URL the service will use reaches the chart's Redis as the service's own user.
    client = redis.Redis.from_url(env["AX0N_REDIS_URL"])
    assert client.acl_whoami() == service
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
        ca = (tmp_path / "ca.crt").read_bytes()
        own_name = f"{release.component('Service', service)['metadata']['name']}.{NAMESPACE}.svc"
        assert tls_health(PORTS[service], ca, own_name) == "SERVING"  # a real call over TLS, verified
        other = "settler" if service != "settler" else "router"
        assert tls_health(PORTS[service], ca, f"mesh-ax0n-{other}.{NAMESPACE}.svc") == "UNAVAILABLE"  # not its name
        assert (
            subprocess.run(  # plaintext on the TLS port gets no answer
                [sys.executable, str(HEALTHCHECK), f"127.0.0.1:{PORTS[service]}"], capture_output=True, timeout=30
            ).returncode
            == 1
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as reply:
            assert reply.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    log = out.decode(errors="replace")
    assert proc.returncode == 0, log[-2000:]
    assert f"ax0n-{service} ready grpc=0.0.0.0:{PORTS[service]} metrics={METRICS_PORT}" in log
