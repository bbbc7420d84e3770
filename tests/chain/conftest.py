"""Chain fixtures: a fresh anvil per test module and the protocol deployed on it (devnet parameters)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ax0n_tools.devnet.anvil import Anvil

from ax0n.chain.deploy import Manifest, deploy
from ax0n.spec.params import DEVNET


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    """A fresh anvil (automine) on a free port, stopped after the module."""
    with Anvil() as chain:
        yield chain


@pytest.fixture(scope="module")
def manifest(anvil: Anvil) -> Manifest:
    """The protocol deployed by dev account 0 with the devnet parameters; the whole supply goes to account 0."""
    return deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET)
