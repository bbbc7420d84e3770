"""A real router process over a real redis-server, with a test-side stand-in for executor, prover and quorum.

The executor, prover and validator services are not wired to the router in one devnet yet, so `MeshStandin`
plays them: it consumes the router's cluster streams with a real consumer group and writes real
`TokenChunk` entries to `ax0n:tok:{request_id}` and real `FinalizedReceipt` entries to `ax0n:final`:

- receipts signed with a node's secp256k1 key (`ax0n.spec.receipt.sign`);
- zk tier (`mlp-devnet`): the devnet QuantizedMLP really runs and its Groth16 proof is really made
  (`ax0n.zk.artifacts`, ~2 s per request);
- LLM tier (`echo-llm`): the "model" upper-cases the prompt's words (no language model here); its
  fingerprint is the real TOPLOC-style encoding (`ax0n.spec.fingerprint`) of synthetic hidden states;
- certificates: real BLS aggregate signatures of the quorum drawn from `VALIDATORS` at the route's snapshot.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ax0n_tools.devnet.ports import free_port
from ax0n_tools.devnet.services import ServiceProcess
from eth_account import Account

from ax0n.mempool import Consumer, Entry, Mempool, Outbound
from ax0n.mempool.streams import EXECUTOR_GROUP, FINAL, requests_stream, tokens_stream
from ax0n.spec import answers, fees
from ax0n.spec import fingerprint as fp
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.committee import Validator
from ax0n.spec.params import DEVNET
from ax0n.spec.routing import Node, NodeStats, Snapshot
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, mlp
from ax0n.zk.poseidon import to_bytes32
from tests import quorum

TOKEN = 10**18
CHAIN_ID = 31337
CLIENT_KEY = "0x" + "6e" * 32  # funded escrow
POOR_KEY = "0x" + "7f" * 32  # no escrow
NODE_KEY = "0x" + "8a" * 32  # signs the stand-in's receipts
PRICE = 10**15  # wei per 1k tokens
LLM_MODEL, ZK_MODEL = "echo-llm", "mlp-devnet"
LLM_COMMITMENT = hashlib.sha256(b"ax0n/sdk-test/echo-llm").digest()
CLUSTERS = ("sdk-a", "sdk-b")
SNAPSHOT_BLOCK, SNAPSHOT_HASH = 3_200, b"\x5a" * 32
PARAMS = DEVNET


def validator_sets(block: int) -> tuple[bytes, Sequence[Validator]] | None:
    """The validator set the stand-in's quorums are drawn from (SNAPSHOT_HASH stands for the block hash)."""
    return (SNAPSHOT_HASH, quorum.VALIDATORS) if block == SNAPSHOT_BLOCK else None


def registry_doc() -> dict:
    good = NodeStats(9_500, 300, 100)
    nodes = tuple(
        Node(bytes([i]) * 32, bytes([i]) * 20, (i + 1) * 1_000 * TOKEN, CLUSTERS[i % 2], (LLM_MODEL, ZK_MODEL), good)
        for i in range(1, 5)
    )
    snapshot = Snapshot(SNAPSHOT_BLOCK, SNAPSHOT_HASH, nodes)
    zk_commitment = mlp.devnet_model().commitment_bytes()
    return {
        "models": [
            {"model_id": LLM_MODEL, "tier": "TIER_LLM", "commitment": LLM_COMMITMENT.hex(), "parameters": 135_000_000,
             "price_per_1k_tokens": str(PRICE)},
            {"model_id": ZK_MODEL, "tier": "TIER_ZK", "commitment": zk_commitment.hex(), "parameters": 874,
             "price_per_1k_tokens": str(PRICE)},
        ],
        "escrow": {Account.from_key(CLIENT_KEY).address: str(100 * TOKEN)},
        "snapshot": json.loads(snapshot.to_json()),
        "validators": quorum.validator_docs(),
    }  # fmt: skip


def words(req: types_pb2.InferenceRequest) -> list[str]:
    text = req.prompt or (req.messages[-1].content if req.messages else "")
    return [w.upper() for w in text.split()][: req.max_tokens]


def certify(r: types_pb2.Receipt, signers: int | None = None) -> types_pb2.QuorumCertificate:
    """A VALID certificate of `r` by the first `signers` seats of its quorum (default: all)."""
    return quorum.certify(r, SNAPSHOT_HASH, signers)


class MeshStandin:
    """Consumes the test clusters' request streams on its own thread and event loop (works under sync tests)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.mlp = mlp.devnet_model()
        self.art = artifacts.load(artifacts.MLP)  # built by `make setup` (~20 s when missing)
        self.carriers: dict[bytes, dict[str, str]] = {}  # trace context each request arrived with, by request id
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._consumers: list[Consumer] = []
        self._tasks: list[asyncio.Future] = []

    def start(self) -> MeshStandin:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()
        return self

    async def _start(self) -> None:
        self.pool = Mempool.from_url(self.redis_url)
        for cluster in CLUSTERS:
            c = Consumer(
                self.pool,
                requests_stream(cluster),
                EXECUTOR_GROUP,
                f"sdk-standin-{cluster}",
                types_pb2.InferenceRequest,
                self.handle,
                block_ms=50,
                concurrency=4,
            )
            self._consumers.append(c)
            self._tasks.append(asyncio.ensure_future(c.run()))

    def stop(self) -> None:
        async def _stop() -> None:
            for c in self._consumers:
                c.stop()
            await asyncio.gather(*self._tasks)
            await self.pool.close()

        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def execute(self, req: types_pb2.InferenceRequest) -> tuple[list[str], types_pb2.FinalizedReceipt]:
        """(streamed deltas, the finalized receipt) for one request."""
        zk = req.model_id == ZK_MODEL
        receipt = types_pb2.Receipt(
            request_id=req.request_id,
            model_id=req.model_id,
            route=req.route,
            client=req.client,
            fee_cap=req.fee_cap,
            chain_id=req.chain_id,
            settlement=req.settlement,
        )
        if zk:
            x = mlp.parse_features(req.prompt)
            prediction = self.mlp.forward(x)
            output = prediction.to_json()
            deltas = [output]
            receipt.tier = types_pb2.TIER_ZK
            receipt.model_commitment = self.mlp.commitment_bytes()
            receipt.input_hash = to_bytes32(mlp.input_hash(x))
            receipt.output_hash = to_bytes32(mlp.output_hash(prediction))
        else:
            ws = words(req)
            deltas = [(" " if i else "") + w for i, w in enumerate(ws)]
            output = "".join(deltas)
            receipt.tier = types_pb2.TIER_LLM
            receipt.model_commitment = LLM_COMMITMENT
            receipt.input_hash = requests.prompt_hash(req)
            receipt.output_hash = receipts.output_hash(output)
            rng = np.random.default_rng(int.from_bytes(bytes(req.request_id)[:8]))
            receipt.fingerprint.CopyFrom(fp.fingerprint(rng.standard_normal((len(deltas), 256)), fp.FP32))
            receipt.reference.dtype = "float32"
        receipt.timings.output_tokens = len(deltas)
        receipt.timings.prompt_tokens = 0 if zk else len(words(req))
        receipt.output_token_ids.extend(range(len(deltas)))
        receipt.fee = str(fees.charge(PRICE, answers.billed_tokens(receipt), int(req.fee_cap), PARAMS))
        signed = receipts.sign(receipt, NODE_KEY)
        final = types_pb2.FinalizedReceipt(receipt=signed, output=output, certificate=certify(signed), request=req)
        if zk:
            inputs = self.mlp.circuit_inputs(x, prediction)
            final.proof.CopyFrom(
                types_pb2.Proof(
                    envelope=self.art.prove(inputs),
                    circuit_id=self.art.spec.name,
                    public_inputs=[w.to_bytes(32, "big") for w in self.art.public_inputs(inputs)],
                )
            )
        return deltas, final

    async def handle(self, item: Entry[types_pb2.InferenceRequest]) -> list[Outbound]:
        req = item.message
        rid = bytes(req.request_id)
        self.carriers[rid] = item.carrier
        deltas, final = await asyncio.to_thread(self.execute, req)
        for i, delta in enumerate(deltas):
            last = i == len(deltas) - 1
            chunk = types_pb2.TokenChunk(
                request_id=rid, index=i, delta=delta, token_ids=[i], done=last, finish_reason="stop" if last else ""
            )
            await self.pool.publish(tokens_stream(rid), chunk, key=f"{rid.hex()}:{i}")
        return [Outbound(FINAL, final, rid.hex())]


def start_router(redis_url: str, directory: Path, *extra: str) -> tuple[ServiceProcess, int]:
    """The real `ax0n-router` process on free ports; returns it and its HTTP port."""
    registry = directory / "registry.json"
    registry.write_text(json.dumps(registry_doc()))
    http_port = free_port()
    router = ServiceProcess(
        "router",
        redis_url,
        "--registry-file",
        str(registry),
        "--http-port",
        str(http_port),
        "--chain-id",
        str(CHAIN_ID),
        *extra,
    ).start()
    threading.Thread(target=_drain, args=(router,), daemon=True).start()
    return router, http_port


def _drain(service: ServiceProcess) -> None:
    """Keep reading the service's output after its ready line, so a chatty log never fills the pipe."""
    assert service.proc is not None and service.proc.stdout is not None
    try:
        for line in service.proc.stdout:
            service.output.append(line)
    except (ValueError, OSError):  # closed by terminate()
        pass
