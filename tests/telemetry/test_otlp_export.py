"""With an OTLP endpoint configured, spans reach a real OTLP/gRPC trace receiver; without one, nothing is set up."""

from __future__ import annotations

from ax0n.runtime import telemetry
from tests.telemetry.receiver import Receiver, serve


def test_spans_are_exported_over_otlp_grpc() -> None:
    receiver = Receiver()
    server, port = serve(receiver)
    try:
        provider = telemetry.otlp_provider("ax0n-test", f"http://127.0.0.1:{port}")
        assert provider is not None
        with provider.get_tracer("ax0n").start_as_current_span("ax0n:req:c1 publish"):
            pass
        assert provider.force_flush(10_000)
        provider.shutdown()
    finally:
        server.stop(None)

    resource_spans = [rs for req in receiver.requests for rs in req.resource_spans]
    names = [span.name for rs in resource_spans for ss in rs.scope_spans for span in ss.spans]
    assert names == ["ax0n:req:c1 publish"]
    service = {a.key: a.value.string_value for a in resource_spans[0].resource.attributes}["service.name"]
    assert service == "ax0n-test"


def test_no_endpoint_installs_nothing() -> None:
    assert telemetry.otlp_provider("ax0n-test", "") is None
