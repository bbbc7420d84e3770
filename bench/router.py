"""NeuralRoute costs: pick time and index rebuild at 127,493 nodes, and router mesh overhead at 1,000 req/s.

- pick: `ax0n.spec.routing.route` on an index built from 127,493 nodes (64 clusters, 4 models);
- rebuild: `build_index` (snapshot hash + scores + alias tables) for that snapshot;
- mesh overhead: requests are signed beforehand (client side), then offered open-loop at 1,000 req/s
  to the router's admission + append path (`RouterCore.submit`: signature, deadline, model, fee, route,
  backlog, escrow reservation, nonce, XADD) against a redis-server this script starts; a separate
  process plays the executor and reads the cluster streams with XREADGROUP. Overhead is the wall time
  from the router receiving a request to the executor process reading it (gRPC/HTTP transport excluded).
Prints, last, the ratio of the pick p99 to the seed's 2 ms (below 1: faster than the seed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing as mp
import random
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ax0n_router.admission import Admission, Limits
from ax0n_router.core import RouterCore
from ax0n_router.mesh import FinalWatcher
from ax0n_router.registry import FileRegistry
from ax0n_tools.devnet.redis import RedisServer
from eth_account import Account

from ax0n.mempool import Mempool
from ax0n.mempool.streams import requests_stream
from ax0n.spec import request as signing
from ax0n.spec import routing
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.v1 import types_pb2

NODES = 127_493
CLUSTERS = 64
MODELS = ("m0", "m1", "m2", "m3")
SEED_PICK_MS = 2.0
PRICE = 10**12

EXECUTOR = """
import sys, time, json, redis
r = redis.Redis.from_url(sys.argv[1])
streams = json.loads(sys.argv[2])
expected = int(sys.argv[3])
for s in streams:
    try:
        r.xgroup_create(s, "executors", id="0", mkstream=True)
    except redis.ResponseError:
        pass
print("ready", flush=True)
seen = {}
while len(seen) < expected:
    reply = r.xreadgroup("executors", "bench", {s: ">" for s in streams}, count=500, block=200)
    now = time.time()
    for stream, entries in reply or ():
        ids = []
        for eid, fields in entries:
            seen[fields[b"key"].decode()] = now
            ids.append(eid)
        if ids:
            r.xack(stream, "executors", *ids)
print(json.dumps(seen), flush=True)
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_snapshot() -> routing.Snapshot:
    rng = random.Random(7)
    nodes = []
    for i in range(NODES):
        c = i % CLUSTERS
        stats = routing.NodeStats(rng.randint(6_000, 10_000), rng.randint(50, 4_000), rng.randint(1, 1_000))
        served = (MODELS[c % len(MODELS)], MODELS[(c + 1) % len(MODELS)])
        stake = rng.randint(1_000, 1_000_000) * 10**18
        nodes.append(routing.Node(rng.randbytes(32), rng.randbytes(20), stake, f"c{c}", served, stats))
    return routing.Snapshot(1_600, rng.randbytes(32), tuple(nodes))


def bench_index(snapshot: routing.Snapshot, picks: int) -> tuple[routing.RoutingIndex, float, list[float]]:
    started = time.perf_counter()
    index = routing.build_index(snapshot)
    rebuild = time.perf_counter() - started
    gc.freeze()  # as the router does after a rebuild (ax0n_router.admission)
    times = []
    for i in range(picks):
        rid = i.to_bytes(32, "big")
        t0 = time.perf_counter_ns()
        routing.route(index, rid, MODELS[i % len(MODELS)])
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return index, rebuild, times


def signed_requests(n: int, keys: list[str]) -> list[types_pb2.InferenceRequest]:
    deadline = int(time.time()) + 600
    out = []
    for i in range(n):
        req = types_pb2.InferenceRequest(
            model_id=MODELS[i % len(MODELS)],
            prompt=f"request {i}",
            max_tokens=16,
            max_latency_ms=30_000,
            fee_cap=str(PRICE),
            nonce=i,
            deadline=deadline,
            chain_id=DEVNET_DEPLOYMENT.chain_id,
            settlement=DEVNET_DEPLOYMENT.settlement,
        )
        req.sampling.greedy = True
        out.append(signing.sign(req, keys[i % len(keys)]))
    return out


async def router_loop(
    url: str, registry: str, requests: list[tuple[int, bytes]], rate: int, barrier: Barrier
) -> tuple[dict[str, float], dict[str, float], int]:
    """One router process: admission + append of its share of the requests, open loop at their offer times."""
    pool = Mempool.from_url(url)
    finals = FinalWatcher(pool, lambda _final: "the bench delivers no finals")  # none are published here
    await finals.start()
    core = RouterCore(Admission(FileRegistry(registry), pool, Limits(max_backlog=100_000)), pool, finals)
    await core.admission.index()  # the index is built at a snapshot change, not per request
    accepted: dict[str, float] = {}
    appended: dict[str, float] = {}
    refused = 0

    async def one(req: types_pb2.InferenceRequest) -> None:
        nonlocal refused
        t = time.time()
        try:
            await core.submit(req)
        except Exception as exc:
            refused += 1
            if refused == 1:
                print(f"first refusal: {type(exc).__name__}: {exc}", file=sys.stderr)
            return
        accepted[bytes(req.request_id).hex()] = t
        appended[bytes(req.request_id).hex()] = time.time()

    barrier.wait()
    started = time.perf_counter()
    tasks = []
    for i, raw in requests:  # open loop: request i is offered at i / rate
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(types_pb2.InferenceRequest.FromString(raw))))
    await asyncio.gather(*tasks)
    await finals.stop()
    await pool.close()
    return accepted, appended, refused


def router_worker(
    url: str, registry: str, requests: list[tuple[int, bytes]], rate: int, barrier: Barrier, out: Queue
) -> None:
    out.put(asyncio.run(router_loop(url, registry, requests, rate, barrier)))


def mesh_overhead(snapshot: routing.Snapshot, rate: int, seconds: float, routers: int) -> tuple[list[float], int]:
    n = int(rate * seconds)
    keys = ["0x" + random.Random(k).randbytes(32).hex() for k in range(200)]
    requests = [r.SerializeToString() for r in signed_requests(n, keys)]
    ctx = mp.get_context("spawn")
    with RedisServer() as server, tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry.json"
        model = {"price_per_1k_tokens": str(PRICE * 1_000 // 16)}
        doc = {
            "models": [{"model_id": m, **model} for m in MODELS],
            "escrow": {Account.from_key(k).address: str(10**24) for k in keys},
            "snapshot": json.loads(snapshot.to_json()),
        }
        registry.write_text(json.dumps(doc))
        streams = [requests_stream(f"c{c}") for c in range(CLUSTERS)]
        executor = subprocess.Popen(
            [sys.executable, "-c", EXECUTOR, server.url, json.dumps(streams), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert executor.stdout is not None
        assert executor.stdout.readline().strip() == "ready"
        barrier, out = ctx.Barrier(routers), ctx.Queue()
        shares = [[(i, requests[i]) for i in range(w, n, routers)] for w in range(routers)]
        workers = [
            ctx.Process(target=router_worker, args=(server.url, str(registry), share, rate, barrier, out))
            for share in shares
        ]
        for w in workers:
            w.start()
        results = [out.get() for _ in workers]
        for w in workers:
            w.join()
        accepted = {k: v for a, _, _ in results for k, v in a.items()}
        appended = {k: v for _, b, _ in results for k, v in b.items()}
        refused = sum(r for _, _, r in results)
        if refused:
            executor.kill()
        out_text, _ = executor.communicate(timeout=120)
        picked = json.loads(out_text.strip().splitlines()[-1]) if not refused else {}
    overheads = [(picked[k] - accepted[k]) * 1e3 for k in accepted if k in picked]
    admit = [(appended[k] - accepted[k]) * 1e3 for k in accepted]
    print(f"  of which admission + append: p50 {percentile(admit, 0.5):.2f} ms  p99 {percentile(admit, 0.99):.2f} ms")
    return overheads, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer picks, 2 s of load")
    parser.add_argument("--rate", type=int, default=1_000, help="offered requests per second")
    parser.add_argument("--routers", type=int, default=2, help="router processes sharing the load")
    args = parser.parse_args()
    picks, seconds = (20_000, 2.0) if args.quick else (200_000, 10.0)

    snapshot = make_snapshot()
    _, rebuild, times = bench_index(snapshot, picks)
    p50, p99 = percentile(times, 0.50), percentile(times, 0.99)
    print(f"nodes={NODES} clusters={CLUSTERS} models={len(MODELS)} picks={picks}")
    print(f"index rebuild: {rebuild:.2f} s")
    print(f"pick: p50 {p50 * 1e3:.1f} µs  p99 {p99 * 1e3:.1f} µs  mean {statistics.fmean(times) * 1e3:.1f} µs")

    overheads, refused = mesh_overhead(snapshot, args.rate, seconds, args.routers)
    if refused:
        print(f"mesh overhead: {refused} requests refused; no figure")
    else:
        print(
            f"mesh overhead (accept → executor pickup) at {args.rate} req/s over {args.routers} router processes, "
            f"{len(overheads)} requests: "
            f"p50 {percentile(overheads, 0.5):.2f} ms  p99 {percentile(overheads, 0.99):.2f} ms"
        )
    print(f"pick p99 / seed 2 ms = {p99 / SEED_PICK_MS:.4f}")


if __name__ == "__main__":
    main()
