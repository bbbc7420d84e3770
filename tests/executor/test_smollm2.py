"""SmolLM2-135M-Instruct (the real small LLM): commitment, chat generation, verification and detection.

Slow: needs `make executor-models` (the converted model in .cache/models) and minutes of CPU.
"""

from __future__ import annotations

import copy

import pytest
import torch
from ax0n_executor.executor import Executor

from ax0n.llm.engine import Engine
from ax0n.llm.inputs import decoding, prompt_ids
from ax0n.llm.verify import verify
from ax0n.spec import commitment
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY, SMOLLM2_DIR, make_request

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _req(content: str, nonce: int) -> types_pb2.InferenceRequest:
    return make_request(model_id="smol", messages=(("user", content),), max_tokens=40, nonce=nonce)


def _forge(attacker: Engine, registered: Engine, req: types_pb2.InferenceRequest) -> tuple[types_pb2.Receipt, str]:
    gen = attacker.generate(prompt_ids(attacker, req), decoding(req), bytes(req.request_id))
    liar = copy.copy(attacker)
    liar.commitment, liar.dtype = registered.commitment, registered.dtype
    gen.text = registered.decode(gen.token_ids)  # the text the registered tokenizer makes of those tokens
    gen.prompt_ids = prompt_ids(registered, req)  # and it bills the prompt the request asked for
    return Executor({"smol": liar}, NODE_KEY).receipt(req, liar, gen, batch_size=1), gen.text


def test_commitment_matches_the_recorded_one(smollm2: Engine) -> None:
    recorded = (SMOLLM2_DIR / "COMMITMENT").read_text().strip()
    assert "0x" + smollm2.commitment.hex() == recorded == "0x" + commitment.commit(SMOLLM2_DIR).hex()


def test_honest_chat_verifies_across_configurations(smollm2: Engine) -> None:
    executor = Executor({"smol": smollm2}, NODE_KEY)
    reqs = [_req("What is the capital of France?", 1), _req("Write a haiku about trust.", 2)]
    receipt, output = executor.execute(reqs[0])
    assert "Paris" in output
    results = [verify(smollm2, reqs[0], receipt, output)]
    torch.set_num_threads(2)
    try:
        results += [verify(smollm2, r, *executor.execute(r)) for r in reqs]
    finally:
        torch.set_num_threads(1)
    results += [verify(smollm2, r, rc, out) for r, (rc, out) in zip(reqs, executor.execute_batch(reqs), strict=True)]
    assert all(v.valid for v in results), [v.reason for v in results]
    print("\nSmolLM2 honest margins:", [v.margins for v in results])


def test_attacks_are_detected(smollm2: Engine, tiny: Engine) -> None:
    req = _req("Name three primary colors.", 10)
    perturbed = Engine(SMOLLM2_DIR)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in perturbed.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 1e-3)
    attackers = {"tiny model": tiny, "perturbed 1e-3": perturbed, "bf16": Engine(SMOLLM2_DIR, dtype="bfloat16")}
    for name, attacker in attackers.items():
        receipt, output = _forge(attacker, smollm2, req)
        v = verify(smollm2, req, receipt, output)
        print(f"\nSmolLM2 vs {name}: {v.reason}; {v.margins}")
        m = v.margins
        assert not v.valid and (m["err_mean_max"] > m["tol_err_mean"] or m["err_median_max"] > m["tol_err_median"])
    changed = _req("Name three primary colours.", 11)
    gen_changed = smollm2.generate(prompt_ids(smollm2, changed), decoding(req), bytes(req.request_id))
    receipt = Executor({"smol": smollm2}, NODE_KEY).receipt(req, smollm2, gen_changed, batch_size=1)
    v = verify(smollm2, req, receipt, gen_changed.text)
    print(f"\nSmolLM2 changed prompt: {v.reason}; {v.margins}")
    assert not v.valid
