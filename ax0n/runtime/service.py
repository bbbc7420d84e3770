"""The gRPC server every ax0n service runs: health checking, reflection, tracing, metrics, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from pydantic_settings import CliApp

from ax0n import __version__
from ax0n.runtime import telemetry, tls
from ax0n.runtime.config import DEFAULT_PORTS, ServiceSettings
from ax0n.v1 import types_pb2

log = logging.getLogger(__name__)


class Component(Protocol):
    """Background work a service runs beside its gRPC server (stream consumers, watchers)."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Finish in-flight work; called on SIGTERM before the server stops."""


@dataclass
class ServiceSpec:
    """What a service gives the runner: its servicers and background components."""

    name: str  # e.g. "router"
    register: Callable[[grpc.aio.Server], None]  # adds the servicers to the server
    service_names: Sequence[str]  # full gRPC service names, e.g. "ax0n.v1.Router"
    components: Sequence[Component] = field(default_factory=tuple)


def instance_name(settings: ServiceSettings) -> str:
    return settings.instance or f"{socket.gethostname()}-{os.getpid()}"


def status(service: str, settings: ServiceSettings, **details: str) -> types_pb2.ServiceStatus:
    return types_pb2.ServiceStatus(
        service=service, version=__version__, instance=instance_name(settings), details=details
    )


async def serve(spec: ServiceSpec, settings: ServiceSettings) -> None:
    """Serve until SIGTERM/SIGINT, then report NOT_SERVING, let components finish, and stop."""
    server = grpc.aio.server(interceptors=[aio_server_interceptor()])
    spec.register(server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [*spec.service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)

    port = settings.grpc_port or DEFAULT_PORTS[spec.name]
    credentials = tls.server_credentials(settings.tls_cert_file, settings.tls_key_file)
    address = f"{settings.host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise SystemExit(f"ax0n-{spec.name}: cannot bind gRPC port {address} (in use?)")
    probes = _health_server(health, settings, spec.name)
    metrics_port = telemetry.serve_metrics(settings.metrics_port)
    await server.start()
    if probes is not None:
        await probes.start()
    for component in spec.components:
        await component.start()
    for name in ["", *spec.service_names]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"ax0n-{spec.name} ready grpc={settings.host}:{bound} metrics={metrics_port}", flush=True)
    await stop.wait()

    log.info("ax0n-%s: shutting down (grace %.1fs)", spec.name, settings.shutdown_grace_s)
    await health.enter_graceful_shutdown()
    try:
        async with asyncio.timeout(settings.shutdown_grace_s):
            await asyncio.gather(*(c.stop() for c in spec.components))
    except TimeoutError:
        log.warning("ax0n-%s: components did not finish within the grace period", spec.name)
    await server.stop(settings.shutdown_grace_s)
    if probes is not None:
        await probes.stop(None)
    print(f"ax0n-{spec.name} stopped", flush=True)


def _health_server(health: health_aio.HealthServicer, settings: ServiceSettings, name: str) -> grpc.aio.Server | None:
    """A plaintext server with only `health` on settings.health_port (None when -1): it tells probes what the TLS
    port's health service tells its callers, and serves nothing else."""
    if settings.health_port < 0:
        return None
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    if server.add_insecure_port(f"{settings.host}:{settings.health_port}") == 0:
        raise SystemExit(f"ax0n-{name}: cannot bind health port {settings.host}:{settings.health_port} (in use?)")
    return server


def main(
    name: str,
    build: Callable[[ServiceSettings], ServiceSpec],
    settings_cls: type[ServiceSettings] = ServiceSettings,
    argv: list[str] | None = None,
) -> None:
    """Console entry point: settings from AX0N_* and flags (`--help` lists them), then serve."""
    settings = CliApp.run(settings_cls, cli_args=sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=os.environ.get("AX0N_LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    provider = telemetry.setup_tracing(f"ax0n-{name}", settings.otlp_endpoint)
    try:
        asyncio.run(serve(build(settings), settings))
    finally:
        if provider is not None:
            provider.shutdown()
