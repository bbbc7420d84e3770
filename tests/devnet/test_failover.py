"""An executor replica killed under 100 concurrent requests: every request completes, none settles twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.network import Devnet
from web3 import HTTPProvider, Web3

from ax0n.chain.deploy import Manifest
from ax0n.mempool.streams import EXECUTOR_GROUP, requests_stream
from ax0n.sdk import AsyncAx0nClient, InferenceResult

REQUESTS = 100
# a devnet of its own with three executors: ~2.5 minutes on 2 cores


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("failover"), executors=3) as devnet:
        yield devnet


@pytest.mark.timeout(900)
async def test_killing_an_executor_loses_and_duplicates_nothing(net: Devnet) -> None:
    state = net.state
    assert state is not None
    victim = net.services["executor-2"]
    options = demo.client_options(state) | {"max_latency_ms": 170_000, "deadline_s": 290}
    async with AsyncAx0nClient(state.router_target, **options) as client:
        prompts = [f"Say the number {i}." for i in range(REQUESTS)]
        calls = [
            asyncio.ensure_future(
                client.infer(state.llm_model, messages=[{"role": "user", "content": p}], max_tokens=4)
            )
            for p in prompts
        ]
        r = redis.Redis.from_url(state.redis_url, decode_responses=True)
        stream = requests_stream("devnet")
        # kill the replica while it holds work: SIGKILL, so it neither finishes nor acknowledges anything
        while not any(
            c["pending"] for c in r.xinfo_consumers(stream, EXECUTOR_GROUP) if str(victim.proc.pid) in c["name"]
        ):
            await asyncio.sleep(0.05)
        victim.proc.kill()
        results: list[InferenceResult] = await asyncio.gather(*calls)
        assert len({bytes(x.request_id) for x in results}) == REQUESTS
        assert all(x.certificate is not None and x.verification is not None for x in results)
        settled = await asyncio.gather(*(client.wait_for_settlement(x, 240) for x in results))
    assert all(s.tx_hash for s in settled)
    slots = {(s.settlement.batch_seq, s.settlement.leaf_index) for s in settled}
    assert len(slots) == REQUESTS  # one leaf per request
    w3 = Web3(HTTPProvider(state.rpc_url))
    settlement = Manifest.load(Path(state.deployment)).contract(w3, "Settlement")
    events = settlement.events.BatchSettled.get_logs(from_block=0)
    assert sum(e["args"]["count"] for e in events) == REQUESTS  # on-chain: nothing settled twice
    r.close()
