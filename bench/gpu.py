"""GPU path benchmark: generation tokens/s, verification speed-up and detection on the device the executor runs.

On a machine with an NVIDIA GPU it runs the engine on CUDA in bf16 (the dtype GPU pools register); without one
it runs the same steps on the CPU in fp32 (the fallback CI runs, so the script cannot rot). Prints, per run:
- generation tokens/s (and, with --compile, torch.compile's tokens/s over eager);
- verification speed-up: generation time over one prefill's verification of the same receipt (goal >= 50x;
  TOPLOC reports up to 100x on GPUs);
- detection: receipts generated in the other precision (bf16 on a model registered in fp32, and fp32 on one
  registered in bf16) and by a swapped model (weights changed by 1 % of their RMS), each claiming the
  registered model, are rejected by the verifier (count detected / receipts).
Last line: the verification speed-up at the longest output.

Uses SmolLM2-135M-Instruct when `make executor-models` has converted it (unless --quick), else the tiny model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from ax0n_executor.executor import Executor
from ax0n_executor.models import build_tiny
from detection import NODE_KEY, detected, request  # the detection bench's signed requests and lying receipts

from ax0n.llm.engine import Engine
from ax0n.llm.verify import verify
from ax0n.v1 import types_pb2

SMOLLM2 = Path(__file__).resolve().parents[1] / ".cache" / "models" / "smollm2-135m-instruct"
PROMPTS = ["Explain why verifiable inference matters.", "Write a short poem about GPUs.", "def fib(n):\n    return"]


def timed_generation(engine: Engine, req: types_pb2.InferenceRequest) -> tuple[types_pb2.Receipt, str, float]:
    """The receipt of one executed request and the wall time it took (device synchronised)."""
    executor = Executor({"m": engine}, NODE_KEY)
    _sync(engine)
    started = time.perf_counter()
    receipt, output = executor.execute(req)
    _sync(engine)
    return receipt, output, time.perf_counter() - started


def timed_verification(
    engine: Engine, req: types_pb2.InferenceRequest, receipt: types_pb2.Receipt, output: str
) -> float:
    _sync(engine)
    started = time.perf_counter()
    result = verify(engine, req, receipt, output)
    _sync(engine)
    if not result.valid:
        raise SystemExit(f"an honest receipt failed verification: {result.reason}")
    return time.perf_counter() - started


def _sync(engine: Engine) -> None:
    if engine.device == "cuda":
        torch.cuda.synchronize()


def swapped(model_dir: Path, device: str, dtype: str, rel: float = 1e-2) -> Engine:
    """An engine whose every weight moved by rel·rms·N(0, 1): a fine-tune or another checkpoint of the model."""
    engine = Engine(model_dir, device=device, dtype=dtype)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in engine.model.parameters():
            noise = torch.randn(p.shape, generator=gen).to(p.device, p.dtype)
            p.add_(noise * rel * p.float().pow(2).mean().sqrt().to(p.dtype))
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny model, shorter outputs, fewer receipts")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (minutes of compiling)")
    parser.add_argument("--receipts", type=int, help="receipts per detection cell (default 4 quick, else 20)")
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device, dtype, other = ("cuda", "bfloat16", "float32") if cuda else ("cpu", "float32", "bfloat16")
    where = torch.cuda.get_device_name() if cuda else "CPU fallback (no CUDA device)"
    torch.set_num_threads(1)
    n = args.receipts or (4 if args.quick else 20)
    lengths = (32, 128) if args.quick else (128, 256, 512)
    with tempfile.TemporaryDirectory() as tmp:
        use_smol = not args.quick and (SMOLLM2 / "config.json").is_file()
        model_dir = SMOLLM2 if use_smol else build_tiny(Path(tmp) / "tiny")
        engine = Engine(model_dir, device=device, dtype=dtype)
        print(f"{where}: model {model_dir.name}, {dtype}, torch {torch.__version__}")
        timed_generation(engine, request(PROMPTS[0], 0, 4, False))  # warm-up
        speedup = 0.0
        for length in lengths:
            runs = [timed_generation(engine, request(PROMPTS[0], 10 + i, length, False)) for i in range(3)]
            receipt, output, _ = runs[-1]
            gen_s = statistics.median(r[2] for r in runs)
            ver_s = statistics.median(
                timed_verification(engine, request(PROMPTS[0], 12, length, False), receipt, output) for _ in range(3)
            )
            tokens = receipt.timings.output_tokens
            speedup = gen_s / ver_s
            print(
                f"  {tokens:4d} tokens: {tokens / gen_s:8.1f} tokens/s, generation {gen_s * 1000:7.1f} ms, "
                f"verification {ver_s * 1000:6.1f} ms: {speedup:.1f}x"
            )
        if args.compile:
            compiled = Engine(model_dir, device=device, dtype=dtype, compile=True)
            timed_generation(compiled, request(PROMPTS[0], 1, 8, False))  # the compile itself
            eager = statistics.median(
                timed_generation(engine, request(PROMPTS[0], 20, lengths[-1], False))[2] for _ in range(3)
            )
            fast = statistics.median(
                timed_generation(compiled, request(PROMPTS[0], 20, lengths[-1], False))[2] for _ in range(3)
            )
            print(f"torch.compile tokens/s over eager at {lengths[-1]} tokens: {eager / fast:.2f}")
        precision = Engine(model_dir, device=device, dtype=other)
        wrong = swapped(model_dir, device, dtype)
        reqs = [request(PROMPTS[i % len(PROMPTS)], 100 + i, lengths[0], False) for i in range(n)]
        cells = {
            f"{other} compute, {dtype} registered": sum(detected(precision, engine, r) for r in reqs),
            f"{dtype} compute, {other} registered": sum(detected(engine, precision, r) for r in reqs),
            "swapped model (weights +1% RMS)": sum(detected(wrong, engine, r) for r in reqs),
        }
        for cell, caught in cells.items():
            print(f"detected: {cell:36s} {caught}/{n}")
        print(f"verification speed-up at {lengths[-1]} tokens: {speedup:.1f}x")


if __name__ == "__main__":
    main()
