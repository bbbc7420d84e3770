"""Honest receipts are never flagged: executors on every thread count, KV cache on/off, batched or not, and on the
AVX2 and the default (here AVX-512) kernels of torch, verified by a 1-thread prefill on the default kernels.

The slow test runs the whole matrix (13 prompts × 16 configurations = 208 receipts); the default run a sample.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ax0n.llm.engine import Engine
from ax0n.llm.verify import verify
from ax0n.spec import fingerprint as fp
from ax0n.v1 import types_pb2
from tests.executor.test_verification import PROMPTS

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [list(c) for c in itertools.product((1, 2), (True, False), (False, True))]  # threads, KV cache, batched
ISAS = ("default", "avx2")


def _run(model_dir: Path, isa: str, prompts: list[str], configs: list[list], nonce: int) -> list[dict]:
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if isa != "default":
        env["ATEN_CPU_CAPABILITY"] = isa
    cmd = [sys.executable, "-m", "tests.executor.honest", str(model_dir), "--prompts", json.dumps(prompts)]
    cmd += ["--configs", json.dumps(configs), "--nonce", str(nonce)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def _matrix(tiny_dir: Path, tiny: Engine, prompts: list[str], configs: list[list]) -> int:
    lines = [line for i, isa in enumerate(ISAS) for line in _run(tiny_dir, isa, prompts, configs, 1000 * (i + 1))]
    assert {line["isa"] for line in lines} >= {"AVX2"}  # the AVX2 kernels really ran
    flagged, worst = [], {"mismatches_max": 0.0, "err_mean_max": 0.0, "err_median_max": 0.0}
    for line in lines:
        req = types_pb2.InferenceRequest.FromString(bytes.fromhex(line["request"]))
        receipt = types_pb2.Receipt.FromString(bytes.fromhex(line["receipt"]))
        v = verify(tiny, req, receipt, line["output"])
        if not v.valid:
            flagged.append((line["isa"], line["config"], v.reason))
        for key in worst:
            worst[key] = max(worst[key], v.margins.get(key, 0.0))
    print(f"\nhonest matrix: {len(lines)} receipts, {len(flagged)} flagged; worst {worst}; {fp.FP32.tolerance}")
    assert not flagged
    return len(lines)


def test_honest_sample_across_isas_threads_cache_and_batching(tiny_dir: Path, tiny: Engine) -> None:
    assert _matrix(tiny_dir, tiny, PROMPTS[:2], [[2, True, False], [1, False, True]]) == 8


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_at_least_200_honest_receipts_are_never_flagged(tiny_dir: Path, tiny: Engine) -> None:
    assert _matrix(tiny_dir, tiny, PROMPTS, CONFIGS) >= 200
