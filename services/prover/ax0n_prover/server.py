"""The Prover gRPC service."""

from __future__ import annotations

import grpc

from ax0n import service
from ax0n.config import ServiceSettings
from ax0n.v1 import prover_pb2_grpc, types_pb2


class ProverServicer(prover_pb2_grpc.ProverServicer):
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    async def Status(self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext) -> types_pb2.ServiceStatus:
        return service.status("prover", self.settings)


def build(settings: ServiceSettings) -> service.ServiceSpec:
    servicer = ProverServicer(settings)
    return service.ServiceSpec(
        name="prover",
        register=lambda server: prover_pb2_grpc.add_ProverServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Prover"],
    )
