"""Settler fixtures: a fresh anvil with the protocol deployed, a journal under a fresh prefix."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil

from tests.settler.helpers import Deployment, deploy

_prefixes = itertools.count()


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    with Anvil() as chain:
        yield chain


@pytest.fixture
def deployment(anvil: Anvil) -> Deployment:
    return deploy(anvil)


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def journal(rclient: redis.Redis) -> Journal:
    return Journal(rclient, prefix=f"test:settler:{next(_prefixes)}:{id(rclient)}")
