"""The Executor gRPC service."""

from __future__ import annotations

import grpc

from ax0n import service
from ax0n.config import ServiceSettings
from ax0n.v1 import executor_pb2_grpc, types_pb2


class ExecutorServicer(executor_pb2_grpc.ExecutorServicer):
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> types_pb2.ServiceStatus:
        return service.status("executor", self.settings)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    servicer = ExecutorServicer(settings)
    return service.ServiceSpec(
        name="executor",
        register=lambda server: executor_pb2_grpc.add_ExecutorServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Executor"],
    )
