"""`ax0n-reexecutor`: the LLM-tier re-executor a validator operator runs on its own (GPU) compute.

Its validators send it a receipt with its request and output (`--reexecutor-target`); it answers the verdict of
ax0n.llm.verify: one prefill of prompt + output on its own copy of the committed model.
"""

from __future__ import annotations

import asyncio

import grpc
from pydantic import Field

from ax0n.llm import verify
from ax0n.llm.engine import Engine, load_engines
from ax0n.runtime import service
from ax0n.runtime.calls import require_caller
from ax0n.runtime.config import ServiceSettings
from ax0n.spec import calls
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc

DEFAULT_PORT = 50056


class ReexecutorSettings(ServiceSettings):
    grpc_port: int = Field(DEFAULT_PORT, description="gRPC port")
    models: str = Field(
        "", description="models to re-execute, comma-separated MODEL_ID=DIR@0xCOMMITMENT (each refused on mismatch)"
    )
    dtype: str = Field("float32", description="registered dtype the models run in")
    threads: int = Field(2, description="CPU threads of one prefill")
    allowed_callers: str = Field(
        "", description="comma-separated addresses whose signed calls may Reexecute (the operator's validators)"
    )


class ReexecutorServicer(validator_pb2_grpc.ReexecutorServicer):
    def __init__(self, settings: ReexecutorSettings, engines: dict[str, Engine]) -> None:
        self.settings, self.engines = settings, engines
        self.allowed = calls.addresses(settings.allowed_callers)

    async def Status(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ServiceStatus:
        return service.status("reexecutor", self.settings, models=",".join(sorted(self.engines)))

    async def Reexecute(
        self, request: validator_pb2.ReexecuteRequest, context: grpc.aio.ServicerContext
    ) -> validator_pb2.ReexecuteResponse:
        """One prefill, for a caller the operator allows (a prefill costs as much as the generation it checks)."""
        await require_caller(context, "Reexecute", request, self.allowed)
        engine = self.engines.get(request.receipt.model_id)
        if engine is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"model {request.receipt.model_id!r} is not loaded; loaded: {sorted(self.engines)}",
            )
        v = await asyncio.to_thread(verify.verify, engine, request.request, request.receipt, request.output)
        return validator_pb2.ReexecuteResponse(valid=v.valid, reason=v.reason, margins=v.margins)


def build(settings: ReexecutorSettings) -> service.ServiceSpec:
    servicer = ReexecutorServicer(settings, load_engines(settings.models, settings.dtype, settings.threads))
    return service.ServiceSpec(
        name="reexecutor",
        register=lambda server: validator_pb2_grpc.add_ReexecutorServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Reexecutor"],
    )


def main() -> None:
    service.main("reexecutor", build, ReexecutorSettings)


if __name__ == "__main__":
    main()
