"""The gRPC service on a real server: served models, precise statuses, model configuration."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from ax0n_executor.executor import Executor
from ax0n_executor.server import ExecutorSettings, load
from ax0n_executor.server import build as build_service

from ax0n.llm.engine import Engine, parse_models
from ax0n.v1 import executor_pb2_grpc, types_pb2
from tests.executor.conftest import NODE_KEY


def test_model_configuration(tiny_dir: Path, tiny: Engine) -> None:
    root = "0x" + tiny.commitment.hex()
    assert parse_models(f"tiny={tiny_dir}@{root}") == {"tiny": (str(tiny_dir), tiny.commitment)}
    with pytest.raises(ValueError, match="bad model entry 'tiny=/x'"):
        parse_models("tiny=/x")
    settings = ExecutorSettings(models=f"tiny={tiny_dir}@0x{'00' * 32}", node_key=NODE_KEY)
    with pytest.raises(ValueError, match="is registered: its weights or definition files changed"):
        load(settings)
    spec = build_service(ExecutorSettings(models=f"tiny={tiny_dir}@{root}", node_key=NODE_KEY))
    assert spec.service_names == ["ax0n.v1.Executor"] and len(spec.components) == 2  # stream worker, heartbeat


async def test_served_models(executor: Executor, tiny: Engine) -> None:
    from ax0n_executor.server import ExecutorServicer

    server = grpc.aio.server()
    executor_pb2_grpc.add_ExecutorServicer_to_server(ExecutorServicer(ExecutorSettings(), executor), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = executor_pb2_grpc.ExecutorStub(channel)
            (info,) = (await stub.ServedModels(types_pb2.StatusRequest())).models
            assert info.model_id == "tiny" and info.commitment == tiny.commitment
            assert 9_000_000 < info.parameters < 11_000_000
    finally:
        await server.stop(None)
