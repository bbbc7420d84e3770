"""A router wired to a real redis-server, with a test-side executor stand-in.

No executor service is wired yet, so `producer` plays the executor and the validator quorum: it
consumes the cluster streams with a real consumer group and writes real TokenChunk entries to
ax0n:tok:{request_id} and FinalizedReceipt entries to ax0n:final: receipts signed by a node key and
certified by a real BLS quorum (tests.quorum), which the router verifies before it delivers them.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from ax0n_router.admission import Admission, Limits
from ax0n_router.core import RouterCore
from ax0n_router.mesh import FinalWatcher
from ax0n_router.openai_http import OpenAIApi
from ax0n_router.registry import FileRegistry
from ax0n_router.server import HttpComponent, RouterServicer, final_check
from ax0n_router.settings import RouterSettings
from ax0n_tools.devnet.ports import free_port
from eth_account import Account

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.mempool.streams import EXECUTOR_GROUP, FINAL, requests_stream, tokens_stream
from ax0n.spec import receipt as receipts
from ax0n.spec import request as signing
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.params import DEVNET
from ax0n.spec.routing import Node, NodeStats, Snapshot
from ax0n.v1 import router_pb2_grpc, types_pb2
from tests import quorum

TOKEN = 10**18
KEY = "0x" + "4c" * 32  # funded escrow
POOR_KEY = "0x" + "5d" * 32  # no escrow
API_KEY = "sk-ax0n-test"
PRICE = 10**15  # wei per 1k tokens
CHAIN_ID = 31337
MAX_BACKLOG = 8
NODE_KEY = "0x" + "9b" * 32  # signs the stand-in's receipts
SNAPSHOT_BLOCK, SNAPSHOT_HASH = 1_600, b"\x42" * 32
_nonces = itertools.count(1)


def address(key: str) -> str:
    return Account.from_key(key).address


def registry_doc() -> dict:
    good = NodeStats(9_500, 300, 100)

    def node(i: int, cluster: str, models: tuple[str, ...]) -> Node:
        return Node(bytes([i]) * 32, bytes([i]) * 20, (i + 1) * 1_000 * TOKEN, cluster, models, good)

    nodes = (
        *(node(i, "alpha", ("smollm2", "flaky-model")) for i in range(1, 4)),
        *(node(i, "beta", ("smollm2",)) for i in range(4, 6)),
        node(6, "busy", ("busy-model",)),
        node(7, "gone", ("flaky-model",)),  # no executor reads this cluster
    )
    snapshot = Snapshot(SNAPSHOT_BLOCK, SNAPSHOT_HASH, nodes)
    model = {"tier": "TIER_LLM", "commitment": "ab" * 32, "parameters": 135_000_000, "price_per_1k_tokens": str(PRICE)}
    return {
        "models": [
            {"model_id": "smollm2", **model},
            {"model_id": "busy-model", **model},
            {"model_id": "flaky-model", **model},
            {"model_id": "retired", **model, "active": False},
        ],
        "escrow": {address(KEY): str(100 * TOKEN)},
        "snapshot": json.loads(snapshot.to_json()),
        "validators": quorum.validator_docs(),
    }


def make_request(key: str = KEY, **over: object) -> types_pb2.InferenceRequest:
    fields: dict[str, object] = dict(
        model_id="smollm2",
        max_tokens=8,
        max_latency_ms=10_000,
        fee_cap=str(PRICE),
        nonce=next(_nonces),
        deadline=int(time.time()) + 60,
        chain_id=CHAIN_ID,
        settlement=DEVNET_DEPLOYMENT.settlement,
    )
    fields.update(over)
    req = types_pb2.InferenceRequest(**fields)
    if not req.messages and not req.prompt:
        req.messages.add(role="user", content="the quick brown fox")
    req.sampling.greedy = True
    return signing.sign(req, key)


def openai_body(req: types_pb2.InferenceRequest, stream: bool = False) -> dict:
    """The HTTP body (with the ax0n extension) that describes a signed request."""
    return {
        "model": req.model_id,
        "messages": [{"role": m.role, "content": m.content} for m in req.messages],
        "max_tokens": req.max_tokens,
        "stream": stream,
        "ax0n": extension(req),
    }


def extension(req: types_pb2.InferenceRequest) -> dict:
    return {
        "client": "0x" + req.client.hex(),
        "signature": "0x" + req.signature.hex(),
        "nonce": req.nonce,
        "deadline": req.deadline,
        "fee_cap": req.fee_cap,
        "max_latency_ms": req.max_latency_ms,
        "chain_id": req.chain_id,
    }


def expected_words(req: types_pb2.InferenceRequest) -> list[str]:
    text = req.prompt or req.messages[-1].content
    return [w.upper() for w in text.split()]


async def executor_standin(pool: Mempool, item: Entry[types_pb2.InferenceRequest]) -> list[Outbound]:
    """Streams the upper-cased words of the prompt, then returns the final result for ax0n:final."""
    req = item.message
    rid = bytes(req.request_id)
    words = expected_words(req)[: req.max_tokens]
    if words and words[0] == "REFUSE":  # as the real executor reports a request it cannot serve
        reason = "error: OUT_OF_RANGE: prompt of 9000 tokens does not fit the context of 8192"
        await pool.publish(
            tokens_stream(rid), types_pb2.TokenChunk(request_id=rid, done=True, finish_reason=reason), key=rid.hex()
        )
        return []
    for i, w in enumerate(words):
        last = i == len(words) - 1
        chunk = types_pb2.TokenChunk(
            request_id=rid,
            index=i,
            delta=(" " if i else "") + w,
            token_ids=[i],
            done=last,
            finish_reason="stop" if last else "",
        )
        await pool.publish(tokens_stream(rid), chunk, key=f"{rid.hex()}:{i}")
    return [Outbound(FINAL, finalized(req, " ".join(words)), rid.hex())]


def finalized(req: types_pb2.InferenceRequest, output: str) -> types_pb2.FinalizedReceipt:
    """The stand-in quorum's final result for `req`: a node-signed receipt with a real quorum certificate."""
    receipt = types_pb2.Receipt(
        request_id=req.request_id,
        model_id=req.model_id,
        tier=types_pb2.TIER_LLM,
        model_commitment=bytes.fromhex("ab" * 32),
        input_hash=signing.prompt_hash(req),
        route=req.route,
        client=req.client,
        fee_cap=req.fee_cap,
        chain_id=req.chain_id,
        settlement=req.settlement,
        output_hash=receipts.output_hash(output),
        timings=types_pb2.Timings(output_tokens=len(output.split())),
    )
    signed = receipts.sign(receipt, NODE_KEY)
    return types_pb2.FinalizedReceipt(
        receipt=signed, output=output, request=req, certificate=quorum.certify(signed, SNAPSHOT_HASH)
    )


@dataclass
class RouterUnderTest:
    pool: Mempool
    core: RouterCore
    grpc_target: str
    http_url: str
    registry_path: Path


@pytest.fixture
async def router(mempool_url: str, tmp_path: Path) -> AsyncIterator[RouterUnderTest]:
    """The router with executor stand-ins, on one redis-server and on the session's Redis Cluster (where
    admission reserves in the client's slot and appends in the cluster stream's)."""
    redis_url = mempool_url
    await Mempool.from_url(redis_url).redis.flushall()
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_doc()))
    pool = Mempool.from_url(redis_url)
    finals = FinalWatcher(pool, final_check(FileRegistry(path), DEVNET_DEPLOYMENT, DEVNET))
    await finals.start()
    core = RouterCore(Admission(FileRegistry(path), pool, Limits(max_backlog=MAX_BACKLOG)), pool, finals)

    settings = RouterSettings(registry_file=str(path), grpc_port=free_port(), metrics_port=-1)
    server = grpc.aio.server()
    router_pb2_grpc.add_RouterServicer_to_server(RouterServicer(core, settings), server)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    api = OpenAIApi(core, {hashlib.sha256(API_KEY.encode()).digest(): KEY})
    http = HttpComponent(api.app, "127.0.0.1", free_port())
    await http.start()

    consumers = [
        Consumer(
            pool,
            requests_stream(c),
            EXECUTOR_GROUP,
            f"standin-{c}",
            types_pb2.InferenceRequest,
            lambda item: executor_standin(pool, item),
            block_ms=50,
            concurrency=4,
        )
        for c in ("alpha", "beta")
    ]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        yield RouterUnderTest(pool, core, f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http.server.config.port}", path)
    finally:
        for c in consumers:
            c.stop()
        await asyncio.gather(*tasks)
        await http.stop()
        await server.stop(0)
        await finals.stop()
        await pool.close()
