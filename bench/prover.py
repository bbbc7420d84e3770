"""ProofCore benchmark: prove/verify times for the MLP and batch circuits, throughput on all cores, and where
the MLP prove time goes. Prints, last, the ratio of MLP prove time to the 120 ms target (params)."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import groth16py

from ax0n.spec.params import MAINNET
from ax0n.zk import artifacts, batch
from ax0n.zk.mlp import devnet_model
from ax0n.zk.witness import write_wtns


def timed(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    cores = os.cpu_count() or 1

    model = devnet_model()
    rng = random.Random(0)
    mlp = artifacts.load(artifacts.MLP)
    xs = [[rng.randint(-128, 127) for _ in range(16)] for _ in range(cores * runs)]
    mlp_inputs = model.circuit_inputs(xs[0])
    mlp_public = mlp.public_inputs(mlp_inputs)
    env = mlp.prove(mlp_inputs)

    leaves = [
        batch.Leaf(rng.randbytes(32), rng.randbytes(32), rng.randbytes(20), rng.randbytes(20), 10**15, 10**16)
        for _ in range(16)
    ]
    bat = artifacts.load(artifacts.BATCH16)
    stmt = batch.statement(1, leaves, 16)
    batch_inputs = batch.circuit_inputs(leaves, 16, stmt)
    batch_env = bat.prove(batch_inputs)

    mlp_prove = timed(lambda: mlp.prove(mlp_inputs), runs)
    mlp_verify = timed(lambda: mlp.verify(env, mlp_public), runs * 10)
    batch_prove = timed(lambda: bat.prove(batch_inputs), runs)
    batch_verify = timed(lambda: bat.verify(batch_env, stmt.public_inputs()), runs * 10)
    print(f"mlp   ({artifacts.MLP.args}): prove {mlp_prove * 1e3:8.1f} ms   verify {mlp_verify * 1e3:6.2f} ms")
    print(f"batch (16 leaves):         prove {batch_prove * 1e3:8.1f} ms   verify {batch_verify * 1e3:6.2f} ms")

    # Where the MLP time goes: groth16py.prove (wasmi-interpreted witness + prover) against our path
    # (wasmtime JIT witness, one-copy read-out, prove_wtns) split into its parts.
    calc = mlp.witness_calculator()
    baseline = timed(lambda: groth16py.prove(mlp.pk, mlp_inputs), runs)
    solve = timed(lambda: calc.check(mlp_inputs), runs)
    full = timed(lambda: calc.compute(mlp_inputs), runs)
    with tempfile.TemporaryDirectory() as tmp:
        wtns = os.path.join(tmp, "w.wtns")
        write_wtns(calc.compute(mlp_inputs), wtns)
        from_wtns = timed(lambda: groth16py.prove_wtns(mlp.pk, wtns), runs)
    print(
        f"mlp breakdown: groth16py.prove (wasmi witness) {baseline * 1e3:.1f} ms -> ours {mlp_prove * 1e3:.1f} ms = "
        f"witness solve {solve * 1e3:.1f} ms + read-out {(full - solve) * 1e3:.1f} ms + "
        f"prove_wtns (FFT + MSM, {os.cpu_count()} threads) {from_wtns * 1e3:.1f} ms + self-verify"
    )

    # Throughput: groth16py releases the GIL, so one thread per core proves concurrently.
    batch_x = xs[: cores * runs]
    t = time.perf_counter()
    with ThreadPoolExecutor(cores) as pool:
        list(pool.map(lambda x: mlp.prove(model.circuit_inputs(x)), batch_x))
    elapsed = time.perf_counter() - t
    print(f"mlp throughput: {len(batch_x) / elapsed:.2f} proofs/s on {cores} cores ({len(batch_x)} proofs)")
    print(
        f"mlp prove / {MAINNET.proof_generation_target_ms} ms target: {mlp_prove * 1e3 / MAINNET.proof_generation_target_ms:.2f}x"
    )


if __name__ == "__main__":
    main()
