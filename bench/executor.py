"""Executor benchmark: tokens/s of the executor path (generation + fingerprint + signed receipt) against plain
transformers `generate` on the same model and thread count, and fingerprint verification (one prefill +
checks) against generation time, per output length (decoding costs a full weight read per token, one prefill
costs compute for all of them, so the ratio grows with the output), and the speed-up at 1 and 2 verifier
threads for a 128-token answer (generation at 1 thread). Prints, last, the executor / transformers
tokens/s ratio (goal ≥ 0.95).

Uses SmolLM2-135M-Instruct when `make executor-models` has converted it, else the seeded tiny model.
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

from ax0n.llm.engine import Engine
from ax0n.llm.verify import verify
from ax0n.spec import request as requests
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.v1 import types_pb2

SMOLLM2 = Path(__file__).resolve().parents[1] / ".cache" / "models" / "smollm2-135m-instruct"
PROMPT = "Explain in a few sentences why verifiable inference matters for a decentralized network."
LONG_PROMPT = "Write a detailed, multi-paragraph essay on the history of cryptography, from Caesar to today."


def _request(model_id: str, max_tokens: int, nonce: int, chat: str = "") -> types_pb2.InferenceRequest:
    """A greedy request: the plain PROMPT, or one `chat` message through the model's chat template."""
    req = types_pb2.InferenceRequest(
        model_id=model_id,
        prompt="" if chat else PROMPT,
        messages=[types_pb2.ChatMessage(role="user", content=chat)] if chat else [],
        max_tokens=max_tokens,
        nonce=nonce,
        chain_id=DEVNET_DEPLOYMENT.chain_id,
        settlement=DEVNET_DEPLOYMENT.settlement,
        sampling=types_pb2.SamplingParams(greedy=True),
    )
    return requests.sign(req, "0x" + "17" * 32)


def _transformers_tps(engine: Engine, ids: list[int], n: int) -> float:
    """Baseline: greedy `generate` with KV cache, exactly n new tokens."""
    inp = torch.tensor([ids])
    with torch.inference_mode():
        started = time.perf_counter()
        out = engine.model.generate(
            inp, attention_mask=torch.ones_like(inp), max_new_tokens=n, min_new_tokens=n, do_sample=False
        )
        elapsed = time.perf_counter() - started
    return (out.shape[1] - inp.shape[1]) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer tokens and rounds")
    parser.add_argument("--model", choices=["auto", "smollm2", "tiny"], default="auto")
    args = parser.parse_args()
    torch.set_num_threads(1)
    use_smol = args.model == "smollm2" or (args.model == "auto" and (SMOLLM2 / "config.json").is_file())
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = SMOLLM2 if use_smol else build_tiny(Path(tmp) / "tiny")
        engine = Engine(model_dir, threads=1)
        executor = Executor({"m": engine}, "0x" + "42" * 32)
        n = 32 if args.quick else 128
        rounds = 3 if args.quick else 5
        ids = engine.encode(PROMPT)
        print(f"model {model_dir.name}, {len(ids)} prompt tokens, {n} new tokens, 1 thread, {rounds} rounds")
        _transformers_tps(engine, ids, 4)  # warm up both paths
        executor.execute(_request("m", 4, 0))
        base, mine, gen_s, ver_s = [], [], [], []
        for i in range(rounds):
            base.append(_transformers_tps(engine, ids, n))
            # The executor stops at end-of-sequence; rate = its own tokens over its own time.
            req = _request("m", n, i + 1)
            started = time.perf_counter()
            receipt, output = executor.execute(req)
            elapsed = time.perf_counter() - started
            mine.append(receipt.timings.output_tokens / elapsed)
            gen_s.append(elapsed)
            started = time.perf_counter()
            result = verify(engine, req, receipt, output)
            ver_s.append(time.perf_counter() - started)
            if not result.valid:
                raise SystemExit(f"honest receipt failed verification: {result.reason}")
        chunk_bytes = statistics.mean(len(c) for c in receipt.fingerprint.chunks)
        b, m = statistics.median(base), statistics.median(mine)
        g, v = statistics.median(gen_s), statistics.median(ver_s)
        print(f"transformers generate : {b:8.1f} tokens/s")
        print(f"executor (+receipt)   : {m:8.1f} tokens/s ({receipt.timings.output_tokens} tokens)")
        print(f"fingerprint           : {chunk_bytes:.0f} bytes per {receipt.fingerprint.chunk_tokens} tokens")
        print(f"generation {g * 1000:.0f} ms, verification {v * 1000:.0f} ms: verification {g / v:.1f}x faster")
        for length in (128, 256) if args.quick else (128, 256, 512):
            req = _request("m", length, 1_000 + length, chat=LONG_PROMPT)
            started = time.perf_counter()
            receipt, output = executor.execute(req)
            g = time.perf_counter() - started
            started = time.perf_counter()
            if not verify(engine, req, receipt, output).valid:
                raise SystemExit("honest receipt failed verification")
            v = time.perf_counter() - started
            tokens = receipt.timings.output_tokens
            print(f"  {tokens:4d} tokens: generation {g * 1000:6.0f} ms, verification {v * 1000:5.0f} ms: {g / v:.1f}x")
        # the verifier may use every core it has for the prefill; generation stays at its one thread
        req = _request("m", 128, 2_000, chat=LONG_PROMPT)
        started = time.perf_counter()
        receipt, output = executor.execute(req)
        g = time.perf_counter() - started
        for threads in (1, 2):
            torch.set_num_threads(threads)
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                if not verify(engine, req, receipt, output).valid:
                    raise SystemExit(f"honest receipt failed verification at {threads} verifier threads")
                times.append(time.perf_counter() - started)
            v = statistics.median(times)
            tokens = receipt.timings.output_tokens
            print(
                f"verifier {threads} thread(s), {tokens} tokens: verification {v * 1000:5.0f} ms, {g / v:.1f}x faster"
            )
        torch.set_num_threads(1)
        print(f"tokens/s ratio executor/transformers: {m / b:.3f}")


if __name__ == "__main__":
    main()
