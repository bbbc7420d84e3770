"""OpenTelemetry tracing (OTLP export when configured) and the Prometheus metrics every service exposes."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import grpc
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from ax0n.runtime import tls

if TYPE_CHECKING:  # the OpenTelemetry SDK (export) is a service dependency; the API alone serves clients
    from opentelemetry.sdk.trace import TracerProvider

TRACER_NAME = "ax0n"

MEMPOOL_HANDLED = Counter("ax0n_mempool_handled_total", "Stream entries handled and acknowledged", ["stream", "group"])
MEMPOOL_FAILED = Counter(
    "ax0n_mempool_failed_total", "Handler failures (the entry stays pending and is retried)", ["stream", "group"]
)
MEMPOOL_DEAD = Counter(
    "ax0n_mempool_dead_lettered_total", "Entries moved to the dead-letter stream", ["stream", "group"]
)
MEMPOOL_LATENCY = Histogram("ax0n_mempool_handle_seconds", "Time to handle one entry, read to ack", ["stream", "group"])
MEMPOOL_DEPTH = Gauge(
    "ax0n_mempool_queue_depth", "Entries not yet acknowledged by the group (lag + pending)", ["stream", "group"]
)
RPC_LATENCY = Histogram("ax0n_rpc_seconds", "gRPC call latency", ["service", "method"])


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def consumer_span(name: str, carrier: Mapping[str, str]) -> AbstractContextManager[trace.Span]:
    """The CONSUMER span of one stream entry, a child of the producer's context in `carrier`.

    With no tracer provider installed, no context in `carrier` and no span current, there is nothing to record
    or propagate: the invalid span is returned without the API's context machinery (a fast path per entry).
    """
    provider = trace.get_tracer_provider()
    if (
        not carrier
        and isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        and not trace.get_current_span().get_span_context().is_valid
    ):
        return nullcontext(trace.INVALID_SPAN)
    return tracer().start_as_current_span(name, context=extract(carrier), kind=trace.SpanKind.CONSUMER)


def otlp_provider(service_name: str, otlp_endpoint: str) -> TracerProvider | None:
    """A provider exporting spans over OTLP/gRPC to `otlp_endpoint`; None (export nothing) when it is empty."""
    if not otlp_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)))
    return provider


def setup_tracing(service_name: str, otlp_endpoint: str = "") -> TracerProvider | None:
    """Install the OTLP provider globally when an endpoint is configured; otherwise install nothing."""
    provider = otlp_provider(service_name, otlp_endpoint)
    if provider is not None:
        trace.set_tracer_provider(provider)
    return provider


def inject() -> dict[str, str]:
    """The current trace context as W3C headers (traceparent, tracestate)."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}  # no span to propagate: the W3C propagator would write no header (a fast path per entry)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: Mapping[str, str]):  # -> opentelemetry.context.Context
    if not carrier:
        return Context()  # what the propagators return for no headers: a root context (a fast path per entry)
    return propagate.extract(dict(carrier))


def channel(target: str, ca_file: str = "") -> grpc.aio.Channel:
    """A gRPC channel whose calls carry the current trace context (client spans): TLS verified against the CA
    bundle `ca_file` (ax0n.runtime.tls), plaintext without one."""
    credentials = tls.channel_credentials(ca_file)
    if credentials is None:
        return grpc.aio.insecure_channel(target, interceptors=aio_client_interceptors())
    return grpc.aio.secure_channel(target, credentials, interceptors=aio_client_interceptors())


def serve_metrics(port: int, addr: str = "0.0.0.0") -> int | None:
    """Serve /metrics on `port` (0: a free port; negative: disabled). Returns the bound port."""
    if port < 0:
        return None
    server, _thread = start_http_server(port, addr)
    return server.server_port
