"""Shared fixtures: real processes on free ports, torn down afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_tools.devnet.cluster import RedisClusterServers
from ax0n_tools.devnet.redis import RedisServer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

REPO = Path(__file__).resolve().parents[1]
# Installed code reads only its package data; tests also deploy test contracts (forge's out/) and share the
# checkout's Groth16 setup cache with `make` (children the tests start inherit both).
os.environ.setdefault("AX0N_CONTRACTS_OUT", str(REPO / "contracts" / "out"))
os.environ.setdefault("AX0N_ARTIFACTS_DIR", str(REPO / ".cache" / "artifacts"))

_SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_SPANS))
trace.set_tracer_provider(_provider)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Finished spans recorded in this process (the in-memory exporter the tests install)."""
    _SPANS.clear()
    yield _SPANS
    _SPANS.clear()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; tests use distinct stream names."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """One Redis Cluster for the session: three masters with a replica each, AOF everysec (a failover test may
    kill a master: its replica takes over, and the cluster stays usable)."""
    with RedisClusterServers(replicas=1, node_timeout_ms=2_000, appendonly=True) as cluster:
        yield cluster


@pytest.fixture(params=["single", "cluster"])
def mempool_url(request: pytest.FixtureRequest) -> str:
    """The mempool's URL on one redis-server, then on the session's Redis Cluster."""
    if request.param == "single":
        return request.getfixturevalue("redis_url")
    return request.getfixturevalue("redis_cluster").url
