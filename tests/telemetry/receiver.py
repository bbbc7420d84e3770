"""A real OTLP/gRPC trace receiver (what a collector listens on), for tests."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self._lock = threading.Lock()

    def Export(self, request, context):
        with self._lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def services_in_trace(self, trace_id: bytes) -> set[str]:
        """service.name of every exporter that sent a span of trace `trace_id`."""
        with self._lock:
            requests = list(self.requests)
        out = set()
        for req in requests:
            for rs in req.resource_spans:
                names = {a.key: a.value.string_value for a in rs.resource.attributes}
                if any(span.trace_id == trace_id for ss in rs.scope_spans for span in ss.spans):
                    out.add(names.get("service.name", ""))
        return out


def serve(receiver: Receiver) -> tuple[grpc.Server, int]:
    """Start `receiver` on a free loopback port; returns the server and the port."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port
