"""Shared fixtures: a registered validator set of 1,024 real BLS keys with varied stake, and one quorum."""

from __future__ import annotations

import pytest

from ax0n.spec import committee
from ax0n.spec.certificate import Committee

from .helpers import REQUEST_ID, SNAPSHOT_BLOCK, SNAPSHOT_HASH, Registry, make_registry

SET_SIZE = 1_024


@pytest.fixture(scope="session")
def registry() -> Registry:
    return make_registry(SET_SIZE)


@pytest.fixture(scope="session")
def quorum(registry: Registry) -> Committee:
    members = committee.request_quorum(registry.validators, SNAPSHOT_HASH, REQUEST_ID, 256)
    return Committee.draw(registry.validators, members, SNAPSHOT_BLOCK)
