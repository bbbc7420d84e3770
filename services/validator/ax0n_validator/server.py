"""The Validator gRPC service."""

from __future__ import annotations

import grpc

from ax0n import service
from ax0n.config import ServiceSettings
from ax0n.v1 import types_pb2, validator_pb2_grpc


class ValidatorServicer(validator_pb2_grpc.ValidatorServicer):
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> types_pb2.ServiceStatus:
        return service.status("validator", self.settings)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    servicer = ValidatorServicer(settings)
    return service.ServiceSpec(
        name="validator",
        register=lambda server: validator_pb2_grpc.add_ValidatorServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Validator"],
    )
