"""gRPC calls carry trace context: the server span is a child of the client span."""

from __future__ import annotations

import grpc
from ax0n_settler.server import SettlerServicer
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.trace import SpanKind

from ax0n import telemetry
from ax0n.config import ServiceSettings
from ax0n.v1 import settler_pb2_grpc, types_pb2


async def test_client_and_server_spans_share_the_trace(spans) -> None:
    server = grpc.aio.server(interceptors=[aio_server_interceptor()])
    settler_pb2_grpc.add_SettlerServicer_to_server(SettlerServicer(ServiceSettings()), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with telemetry.tracer().start_as_current_span("sdk call") as root:
            async with telemetry.channel(f"127.0.0.1:{port}") as channel:
                status = await settler_pb2_grpc.SettlerStub(channel).Status(types_pb2.StatusRequest())
        assert status.service == "settler"
    finally:
        await server.stop(None)

    finished = spans.get_finished_spans()
    client = next(s for s in finished if s.kind == SpanKind.CLIENT)
    served = next(s for s in finished if s.kind == SpanKind.SERVER)
    assert client.context.trace_id == served.context.trace_id == root.get_span_context().trace_id
    assert served.parent.span_id == client.context.span_id
