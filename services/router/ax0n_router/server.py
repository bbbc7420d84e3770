"""The Router gRPC service."""

from __future__ import annotations

import grpc

from ax0n import service
from ax0n.config import ServiceSettings
from ax0n.v1 import router_pb2_grpc, types_pb2


class RouterServicer(router_pb2_grpc.RouterServicer):
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> types_pb2.ServiceStatus:
        return service.status("router", self.settings)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    servicer = RouterServicer(settings)
    return service.ServiceSpec(
        name="router",
        register=lambda server: router_pb2_grpc.add_RouterServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Router"],
    )
