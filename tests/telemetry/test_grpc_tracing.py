"""gRPC calls carry trace context: the server span is a child of the client span."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from opentelemetry.trace import SpanKind

from ax0n.runtime import telemetry


async def test_client_and_server_spans_share_the_trace(spans) -> None:
    server = grpc.aio.server(interceptors=[aio_server_interceptor()])
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with telemetry.tracer().start_as_current_span("sdk call") as root:
            async with telemetry.channel(f"127.0.0.1:{port}") as channel:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(None)

    finished = spans.get_finished_spans()
    client = next(s for s in finished if s.kind == SpanKind.CLIENT)
    served = next(s for s in finished if s.kind == SpanKind.SERVER)
    assert client.context.trace_id == served.context.trace_id == root.get_span_context().trace_id
    assert served.parent.span_id == client.context.span_id
