"""ProofCore fixtures: cached setup artifacts (built once by `make artifacts` or on first use), models, anvil."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ax0n.zk import artifacts
from ax0n.zk.mlp import QuantizedMLP, devnet_model
from ax0n.zk.witness import WitnessCalculator
from tests.prover.chain import ANVIL, Anvil


@pytest.fixture(scope="session")
def mlp_artifacts() -> artifacts.Artifacts:
    return artifacts.load(artifacts.MLP)


@pytest.fixture(scope="session")
def batch_artifacts() -> artifacts.Artifacts:
    return artifacts.load(artifacts.BATCH16)


@pytest.fixture(scope="session")
def mlp_witness(mlp_artifacts: artifacts.Artifacts) -> WitnessCalculator:
    return mlp_artifacts.witness_calculator()


@pytest.fixture(scope="session")
def model() -> QuantizedMLP:
    return devnet_model()


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    if not ANVIL.exists():
        pytest.skip("anvil is not installed (make setup installs contracts/node_modules)")
    chain = Anvil()
    yield chain
    chain.close()
