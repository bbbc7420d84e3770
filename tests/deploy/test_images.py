"""The service images, built with podman from docker/ (ax0n_tools.images), run the devnet: both tiers to settlement.

Slow (a cold build of the five images takes ~10 min on two cores); `make test` runs it after the default suite.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_tools import images
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def built() -> dict[str, str]:
    return dict(zip(images.SERVICES, images.build_all(progress=False), strict=True))


@pytest.fixture(scope="module")
def devnet(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("images"), images=built, reexecutor=True) as net:
        yield net


def test_every_service_runs_from_its_image(devnet: Devnet, built: dict[str, str]) -> None:
    for label, service in devnet.services.items():
        image = built["validator" if label == "reexecutor" else service.name]
        assert service.args[:3] == ["podman", "--runtime", "runc"] and image in service.args, label
        assert service.healthy(), label
    env = images.environment(Path.home() / ".cache" / "ax0n" / "podman")
    running = subprocess.run(
        images.podman("ps", "--format", "{{.Image}}"), env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert sorted(set(running)) == sorted(set(built.values()))


def test_both_tiers_settle_through_the_images(devnet: Devnet) -> None:
    assert devnet.state is not None
    stages = demo.run(devnet.state)
    assert stages["LLM tier"].startswith("inferred, verified, settled"), stages
    assert stages["zk tier"].startswith("inferred, verified, settled"), stages
    assert stages["stream"] == "streamed, verified", stages
