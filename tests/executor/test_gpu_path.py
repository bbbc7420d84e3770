"""The GPU path: bench/gpu.py's CPU fallback (so the script cannot rot), torch.compile, and bf16 on CUDA."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ax0n_executor.executor import Executor

from ax0n.llm.engine import Engine
from ax0n.llm.verify import verify
from ax0n.spec import receipt as receipts
from tests.executor.conftest import NODE_KEY, make_request

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_bench_cpu_fallback_runs_and_detects() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu.py"), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("CPU fallback (no CUDA device): model tiny, float32")
    assert "detected: bfloat16 compute, float32 registered 4/4" in lines
    assert "detected: swapped model (weights +1% RMS)      4/4" in lines
    assert lines[-1].startswith("verification speed-up at 128 tokens: ")


@pytest.mark.slow
def test_compiled_engine_generates_the_same_verifiable_receipts(tiny_dir: Path, tiny: Engine) -> None:
    """torch.compile (about a minute of compiling on two cores) changes nothing a verifier sees."""
    compiled = Engine(tiny_dir, compile=True)
    req = make_request("Compile me", max_tokens=40, nonce=31)
    receipt, output = Executor({"tiny": compiled}, NODE_KEY).execute(req)
    eager, _ = Executor({"tiny": tiny}, NODE_KEY).execute(req)
    assert list(receipt.output_token_ids) == list(eager.output_token_ids)
    receipts.verify(receipt)
    assert verify(tiny, req, receipt, output).valid


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bf16_on_cuda_verifies(tiny_dir: Path) -> None:
    engine = Engine(tiny_dir, device="cuda", dtype="bfloat16")
    req = make_request("On the GPU", max_tokens=40, nonce=32)
    receipt, output = Executor({"tiny": engine}, NODE_KEY).execute(req)
    assert receipt.reference.device == "cuda" and receipt.reference.dtype == "bfloat16"
    assert verify(engine, req, receipt, output).valid
