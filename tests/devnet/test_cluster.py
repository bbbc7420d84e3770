"""The whole mesh on the session's Redis Cluster with its global streams in three shards: both tiers infer, are
proved or attested, certified and settled on anvil, as on one redis-server (tests/devnet/test_devnet.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.cluster import RedisClusterServers
from ax0n_tools.devnet.network import Devnet, DevnetState
from redis.cluster import RedisCluster

from ax0n.mempool import streams
from ax0n.mempool.pool import connect_sync
from ax0n.v1 import types_pb2
from ax0n.zk import mlp

SHARDS = 3
SETTLE_S = 120.0


@pytest.fixture(scope="module")
def cluster_devnet(
    tmp_path_factory: pytest.TempPathFactory, redis_cluster: RedisClusterServers
) -> Iterator[DevnetState]:
    state_dir = tmp_path_factory.mktemp("cluster-devnet")
    with Devnet(progress=False, state_dir=state_dir, redis_cluster_url=redis_cluster.url, mempool_shards=SHARDS) as net:
        assert net.state is not None
        yield net.state


@pytest.mark.slow
def test_both_tiers_settle_with_sharded_streams_on_the_cluster(cluster_devnet: DevnetState) -> None:
    with demo.client_for(cluster_devnet) as client:
        zk = client.infer(model=cluster_devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
        assert zk.output == mlp.devnet_model().forward(json.loads(demo.ZK_FEATURES)).to_json()
        assert zk.certificate is not None and zk.certificate.verdict == types_pb2.VERDICT_VALID
        llm = client.infer(model=cluster_devnet.llm_model, messages=[{"role": "user", "content": "Hi."}], max_tokens=4)
        assert llm.output and llm.receipt.tier == types_pb2.TIER_LLM
        for result in (zk, llm):
            settled = client.check(client.wait_for_settlement(result, SETTLE_S))
            assert settled.tx_hash and settled.verification is not None and "settlement" in settled.verification.checked
    admin = connect_sync(cluster_devnet.redis_url)
    assert isinstance(admin, RedisCluster)
    # the receipts really went through the shards (and nothing through an unsharded global stream)
    for name in (streams.EXECUTED, streams.PROVED, streams.FINAL):
        assert sum(admin.xlen(s) for s in streams.shard_streams(name, SHARDS)) >= 2
        assert not admin.exists(name)
    admin.close()
    assert Path(cluster_devnet.deployment).exists()
