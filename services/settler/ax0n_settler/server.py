"""The Settler gRPC service."""

from __future__ import annotations

import grpc

from ax0n import service
from ax0n.config import ServiceSettings
from ax0n.v1 import settler_pb2_grpc, types_pb2


class SettlerServicer(settler_pb2_grpc.SettlerServicer):
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> types_pb2.ServiceStatus:
        return service.status("settler", self.settings)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    servicer = SettlerServicer(settings)
    return service.ServiceSpec(
        name="settler",
        register=lambda server: settler_pb2_grpc.add_SettlerServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Settler"],
    )
