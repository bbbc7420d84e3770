"""Typed settings, read from the environment (AX0N_*) and overridden by command-line flags."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS: dict[str, int] = {
    "router": 50051,
    "executor": 50052,
    "prover": 50053,
    "validator": 50054,
    "settler": 50055,
}
DEFAULT_METRICS_PORT = 9090
DEFAULT_ROUTER_HTTP_PORT = 8080


class ServiceSettings(BaseSettings):
    """Settings every ax0n service shares."""

    model_config = SettingsConfigDict(env_prefix="AX0N_", extra="ignore", cli_kebab_case=True, cli_implicit_flags=True)

    host: str = Field(
        "127.0.0.1",
        description="interface the gRPC (and the router's HTTP) server binds; 0.0.0.0 exposes every interface "
        "(the chart and the images set it: a pod is reached on its own IP)",
    )
    grpc_port: int = Field(0, description="gRPC port (0: the service's default; tests pass an explicit free port)")
    metrics_port: int = Field(DEFAULT_METRICS_PORT, description="Prometheus /metrics port (-1 disables the endpoint)")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL of the mempool; redis-cluster://host:port for a Redis Cluster (any one node)",
    )
    mempool_shards: int = Field(
        1,
        ge=1,
        description="streams each global stream (exec, proved, att, final, fault) is split into; every service "
        "of a mesh must use the same (docs/mempool.md, Redis Cluster)",
    )
    instance: str = Field("", description="consumer/instance name (default: hostname-pid)")
    otlp_endpoint: str = Field(
        "", description="OTLP/gRPC endpoint for traces, e.g. http://otel-collector:4317 (empty: no export)"
    )
    profile: str = Field("mainnet", description="protocol parameter profile: mainnet or devnet")
    shutdown_grace_s: float = Field(10.0, description="seconds to finish in-flight work on SIGTERM")
    tls_cert_file: str = Field(
        "", description="PEM certificate chain the gRPC server presents (with tls_key_file: TLS; empty: plaintext)"
    )
    tls_key_file: str = Field("", description="PEM private key of tls_cert_file")
    tls_ca_file: str = Field(
        "", description="PEM CA bundle that verifies the ax0n services this one calls (empty: plaintext calls)"
    )
    health_port: int = Field(
        -1,
        description="plaintext port serving only grpc.health.v1, for probes that cannot speak TLS (the kubelet's); "
        "-1: none",
    )
