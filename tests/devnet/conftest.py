"""One devnet for the whole package (starting one takes ~20 s): its state, a verifying SDK client, an OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet, DevnetState

from ax0n.sdk import Ax0nClient
from tests.telemetry.receiver import Receiver, serve


@pytest.fixture(scope="package")
def collector() -> Iterator[tuple[Receiver, str]]:
    """A real OTLP/gRPC receiver every devnet service exports its spans to."""
    receiver = Receiver()
    server, port = serve(receiver)
    yield receiver, f"http://127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture(scope="package")
def devnet(tmp_path_factory: pytest.TempPathFactory, collector: tuple[Receiver, str]) -> Iterator[DevnetState]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("devnet"), otlp_endpoint=collector[1]) as net:
        assert net.state is not None
        yield net.state


@pytest.fixture(scope="package")
def client(devnet: DevnetState) -> Iterator[Ax0nClient]:
    with demo.client_for(devnet) as c:
        yield c
