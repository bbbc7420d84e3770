"""Every service starts, reports SERVING, lists its services by reflection, and exits cleanly on SIGTERM."""

from __future__ import annotations

import importlib
import pkgutil
import urllib.request

import grpc
import pytest
from ax0n_tools.devnet.services import SERVICES, ServiceProcess
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from ax0n import v1
from ax0n.v1 import types_pb2

STUBS = [
    importlib.import_module(f"ax0n.v1.{m.name}") for m in pkgutil.iter_modules(v1.__path__) if m.name.endswith("_grpc")
]


@pytest.mark.parametrize("name", SERVICES)
def test_service_health_reflection_status_and_sigterm(name: str, redis_url: str) -> None:
    service = ServiceProcess(name, redis_url).start()
    try:
        assert service.healthy()
        with grpc.insecure_channel(service.target) as channel:
            listed = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            assert {SERVICES[name], "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= listed
            stubs = next(m for m in STUBS if hasattr(m, f"{SERVICES[name].rsplit('.', 1)[1]}Stub"))
            stub = getattr(stubs, f"{SERVICES[name].rsplit('.', 1)[1]}Stub")(channel)
            status = stub.Status(types_pb2.StatusRequest(), timeout=5)
        assert status.service == name and status.version == "0.1.0"

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=5).read()
        assert b"ax0n_mempool_handled_total" in metrics
    finally:
        code = service.terminate()
    assert code == 0, "".join(service.output)
    assert f"ax0n-{name} stopped" in "".join(service.output)
