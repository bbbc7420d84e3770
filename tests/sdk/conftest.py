"""One real router process and the mesh stand-in for the package (see tests/sdk/mesh.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from ax0n_tools.devnet.redis import RedisServer
from ax0n_tools.devnet.services import ServiceProcess

from tests.sdk.mesh import MeshStandin, start_router


@dataclass
class Mesh:
    router: ServiceProcess
    http_url: str
    standin: MeshStandin

    @property
    def target(self) -> str:
        return self.router.target


@pytest.fixture(scope="package")
def mesh(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    router, http_port = start_router(redis_server.url, tmp_path_factory.mktemp("sdk"))
    standin = MeshStandin(redis_server.url).start()
    try:
        yield Mesh(router, f"http://127.0.0.1:{http_port}", standin)
    finally:
        standin.stop()
        router.terminate()
