"""`ax0n-router` as a process: gRPC and the HTTP API up from one registry file, clean exit on SIGTERM."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import grpc
from ax0n_tools.devnet.ports import free_port
from ax0n_tools.devnet.services import ServiceProcess

from ax0n.v1 import router_pb2, router_pb2_grpc, types_pb2
from tests.router.conftest import registry_doc


def test_router_process_serves_grpc_and_http(redis_url: str, tmp_path: Path) -> None:
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps(registry_doc()))
    http_port = free_port()
    proc = ServiceProcess("router", redis_url, "--registry-file", str(registry), "--http-port", str(http_port))
    proc.start()
    try:
        with grpc.insecure_channel(proc.target) as channel:
            stub = router_pb2_grpc.RouterStub(channel)
            status = stub.Status(types_pb2.StatusRequest(), timeout=10)
            assert status.details["snapshot_block"] == "1600"
            models = stub.ListModels(router_pb2.ListModelsRequest(), timeout=10)
            assert "smollm2" in {m.model_id for m in models.models}
        body = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/models", timeout=10).read())
        assert body["object"] == "list" and body["data"][0]["id"] == "smollm2"
    finally:
        code = proc.terminate()
    assert code == 0, "".join(proc.output)
    assert "ax0n-router stopped" in "".join(proc.output)
