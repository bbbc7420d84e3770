"""ProofCore benchmark: prove/verify times for the MLP in both zk modes (private weights: one shared circuit,
the weights a committed witness; public weights: the model's own circuit with the weights as constants) and the
batch circuit, where the MLP prove time goes, throughput on all cores, and EZKL (PyPI `ezkl`, Halo2/KZG) on the
same 16-32-10 network with fixed and with hashed weights in the same run (setup, prove, verify, proof size), with
our time over theirs per mode. Prints, last, our best mode's prove time over the 120 ms target (params)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import groth16py

from ax0n.spec import settlement
from ax0n.spec.params import MAINNET
from ax0n.zk import artifacts, batch, public
from ax0n.zk.mlp import QuantizedMLP, devnet_model
from ax0n.zk.models import Mode, ZkModel
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

    # public-weight mode: its setup timed from scratch (a fresh directory), then prove/verify as above
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        artifacts.load(public.spec(model), root=Path(tmp))
        pub_setup = time.perf_counter() - t
    pub = ZkModel.load(model, Mode.PUBLIC_WEIGHTS)
    pub_inputs = pub.circuit_inputs(xs[0])
    pub_public = pub.artifacts.public_inputs(pub_inputs)
    pub_env = pub.artifacts.prove(pub_inputs)

    leaves = [
        settlement.Leaf(rng.randbytes(32), rng.randbytes(32), rng.randbytes(20), rng.randbytes(20), 10**15, 10**16)
        for _ in range(16)
    ]
    bat = artifacts.load(artifacts.BATCH16)
    stmt = settlement.statement(1, leaves, 16)
    batch_inputs = batch.circuit_inputs(leaves, 16, stmt)
    batch_env = bat.prove(batch_inputs)

    mlp_prove = timed(lambda: mlp.prove(mlp_inputs), runs)
    mlp_verify = timed(lambda: mlp.verify(env, mlp_public), runs * 10)
    pub_prove = timed(lambda: pub.artifacts.prove(pub_inputs), runs * 4)
    pub_verify = timed(lambda: pub.artifacts.verify(pub_env, pub_public), runs * 10)
    raw_verify = timed(lambda: pub.artifacts.verifier.verify(pub_env[:256], pub_public), runs * 10)
    batch_prove = timed(lambda: bat.prove(batch_inputs), runs)
    batch_verify = timed(lambda: bat.verify(batch_env, stmt.public_inputs()), runs * 10)
    print(
        f"mlp private weights ({artifacts.MLP.args}): prove {mlp_prove * 1e3:8.1f} ms   verify {mlp_verify * 1e3:6.2f} ms"
    )
    print(
        f"mlp public weights  ({pub.artifacts.spec.args}): prove {pub_prove * 1e3:8.1f} ms   verify "
        f"{pub_verify * 1e3:6.2f} ms (groth16py pairing check alone {raw_verify * 1e3:.2f} ms)   setup {pub_setup:.1f} s"
    )
    print(f"  proof: {len(env) - 32} bytes of Groth16 (a, b, c) in a {len(env)}-byte envelope, both modes")
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

    ezkl_times = bench_ezkl(model, xs[0], runs)
    if ezkl_times:
        for mode, ours, theirs in (("public", pub_prove, "fixed"), ("private", mlp_prove, "hashed")):
            print(
                f"ours ({mode} weights) / EZKL ({theirs} weights) prove: {ours * 1e3:.1f} ms / "
                f"{ezkl_times[theirs] * 1e3:.0f} ms = {ours / ezkl_times[theirs]:.4f}x"
            )
    best = min(mlp_prove, pub_prove)
    print(
        f"mlp prove (best mode: {'public' if best == pub_prove else 'private'} weights) / "
        f"{MAINNET.proof_generation_target_ms} ms target: {best * 1e3 / MAINNET.proof_generation_target_ms:.2f}x"
    )


def bench_ezkl(model: QuantizedMLP, x: list[int], runs: int) -> dict[str, float]:
    """EZKL on the same 16-32-10 network (the devnet weights; inputs and outputs hashed, as ours are), once with
    the weights fixed in the circuit and once hashed: setup, prove, verify, proof size. EZKL proves its own
    fixed-point version (layer 1 scaled by 1/256 in place of our floor-shift and clamp, param_scale 8), so the
    statement is the same network, not bit-identical arithmetic. Returns the prove time per weight visibility;
    empty (with the reason printed) when ezkl, torch or onnx is not installed."""
    missing = [m for m in ("ezkl", "torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"EZKL comparison skipped: {', '.join(missing)} not installed (pip install -e '.[dev]')")
        return {}
    import ezkl  # ezkl 23.0.5 (pinned in the dev extras)
    import torch

    warnings.filterwarnings("ignore")
    net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(model.w1, dtype=torch.float32) / (1 << model.shift))
        net[0].bias.copy_(torch.tensor(model.b1, dtype=torch.float32) / (1 << model.shift))
        net[2].weight.copy_(torch.tensor(model.w2, dtype=torch.float32))
        net[2].bias.copy_(torch.tensor(model.b2, dtype=torch.float32))
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:

        def path(name: str) -> str:
            return os.path.join(tmp, name)

        sample = torch.tensor([x], dtype=torch.float32)
        torch.onnx.export(net, (sample,), path("mlp.onnx"), dynamo=False, input_names=["x"], output_names=["y"])
        Path(path("input.json")).write_text(json.dumps({"input_data": [x]}))
        for visibility in ("fixed", "hashed"):
            run_args = ezkl.PyRunArgs()
            run_args.input_visibility, run_args.output_visibility = "hashed", "hashed"
            run_args.param_visibility = visibility
            run_args.input_scale, run_args.param_scale = 0, 8
            # range checks in 8-bit limbs and no lookup table: EZKL's default (2^17 rows for a 2^14 limb table
            # and a 2^16 lookup range) proves this MLP ~20x slower than the least rows that fit it
            run_args.decomp_base, run_args.decomp_legs, run_args.lookup_range = 256, 4, (-1, 1)
            t = time.perf_counter()
            ezkl.gen_settings(path("mlp.onnx"), path("settings.json"), py_run_args=run_args)
            rows = json.loads(Path(path("settings.json")).read_text())["num_rows"]
            run_args.logrows = max(rows + 16, 256).bit_length()  # the least power of two above the rows used
            ezkl.gen_settings(path("mlp.onnx"), path("settings.json"), py_run_args=run_args)
            logrows = json.loads(Path(path("settings.json")).read_text())["run_args"]["logrows"]
            srs = path(f"srs-{logrows}")
            ezkl.compile_circuit(path("mlp.onnx"), path("mlp.ezkl"), path("settings.json"))
            if not os.path.exists(srs):
                ezkl.gen_srs(srs, logrows)  # offline, single-party: as unsafe as our devnet setup, fine to time
            ezkl.setup(path("mlp.ezkl"), path("vk"), path("pk"), srs)
            setup = time.perf_counter() - t
            ezkl.gen_witness(
                path("input.json"), path("mlp.ezkl"), path("witness.json"), vk_path=path("vk"), srs_path=srs
            )
            out[visibility] = timed(
                lambda srs=srs: ezkl.prove(path("witness.json"), path("mlp.ezkl"), path("pk"), path("proof.json"), srs),
                runs,
            )
            verify = timed(
                lambda srs=srs: ezkl.verify(path("proof.json"), path("settings.json"), path("vk"), srs), runs
            )
            ok = ezkl.verify(path("proof.json"), path("settings.json"), path("vk"), srs)
            size = len(bytes.fromhex(json.loads(Path(path("proof.json")).read_text())["hex_proof"].removeprefix("0x")))
            print(
                f"EZKL ({visibility} weights, 2^{logrows} rows): setup {setup:.1f} s   prove {out[visibility] * 1e3:.0f} ms"
                f"   verify {verify * 1e3:.1f} ms ({'ok' if ok else 'FAILED'})   proof {size} bytes"
            )
    return out


if __name__ == "__main__":
    main()
