"""The settler's journal on the session's Redis Cluster: its keys share one hash tag, so every transition is still
one transaction (WATCH/MULTI in one slot), and crashes at each step settle every receipt once, as on one Redis."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import redis
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil
from ax0n_tools.devnet.cluster import RedisClusterServers

from ax0n.mempool.pool import connect_sync
from tests.settler.helpers import Deployment, enqueue, finalized
from tests.settler.test_exactly_once import CRASH_POINTS, assert_settled_once, crash_at, run_until_settled
from tests.settler.test_settle import make_settler

_prefixes = itertools.count()


@pytest.fixture
def cluster_client(redis_cluster: RedisClusterServers) -> Iterator[redis.Redis]:
    client = connect_sync(redis_cluster.url)
    yield client
    client.close()


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_at_a_step_settles_every_receipt_once_on_the_cluster(
    point: str, anvil: Anvil, deployment: Deployment, cluster_client: redis.Redis
) -> None:
    journal = Journal(cluster_client, prefix=f"test:settler:{{cluster-{next(_prefixes)}}}")
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(12)]
    enqueue(cluster_client, journal, finals[:8])
    crashes = run_until_settled(
        anvil, journal, lambda n: make_settler(d, journal, crash=crash_at(point if n < 3 else None))
    )
    enqueue(cluster_client, journal, finals[8:] + finals[:3])  # more work, and duplicates of settled receipts
    crashes += run_until_settled(
        anvil, journal, lambda n: make_settler(d, journal, crash=crash_at(point if n < 1 else None))
    )
    assert crashes >= 2
    assert_settled_once(d, journal, finals, batches=2)
    assert d.w3.eth.get_transaction_count(d.settler.address) == 2
