"""The detection curve at its boundary: any single tensor changed by 1e-3 of its scale is caught, honest runs are not.

The full sweep (1e-2 … 1e-5 × tensor kind × model, quantization, bf16 compute) is `bench/detection.py`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ax0n.llm.engine import Engine
from bench.detection import KINDS, PROMPTS, detected, perturbed, request, tensors
from tests.executor.conftest import SMOLLM2_DIR


def _boundary(registered: Engine, attacker: Engine, per_kind: int, chat: bool) -> None:
    rng = random.Random(1)
    reqs = [request(PROMPTS[i % len(PROMPTS)], 700 + i, 32, chat) for i in range(per_kind * len(KINDS))]
    missed = []
    for i, req in enumerate(reqs):
        kind = KINDS[i % len(KINDS)]
        name = rng.choice(tensors(attacker, kind))
        with perturbed(attacker, name, 1e-3, seed=i):
            if not detected(attacker, registered, req):
                missed.append((kind, name))
    assert not missed
    assert not [r for r in reqs[: len(KINDS)] if detected(registered, registered, r)]  # the honest path beside it


def test_single_tensor_at_1e_3_is_detected_on_the_tiny_model(tiny_dir: Path, tiny: Engine) -> None:
    _boundary(tiny, Engine(tiny_dir), per_kind=3, chat=False)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_single_tensor_at_1e_3_is_detected_on_smollm2(smollm2: Engine) -> None:
    _boundary(smollm2, Engine(SMOLLM2_DIR), per_kind=2, chat=True)
