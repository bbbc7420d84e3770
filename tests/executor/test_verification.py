"""Verification by prefill re-execution: honest runs under every reference configuration pass, attacks fail."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from ax0n_executor.executor import Executor
from ax0n_executor.models import build_tiny

from ax0n.llm.engine import Engine
from ax0n.llm.inputs import decoding, prompt_ids
from ax0n.llm.verify import Verification, verify
from ax0n.spec import fingerprint as fp
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY, make_request

PROMPTS = [
    "The quick brown fox",
    "Verifiable inference on a mesh of nodes.",
    "def fib(n):\n    return",
    "Ceci n'est pas une pipe — ünïcödé ✓",
    "1, 2, 3, 4, 5,",
    "a",
    "Once upon a time, in a land far away, there lived a dragon who loved arithmetic.",
    "SELECT * FROM receipts WHERE",
    "Σ (x_i − μ)² / n",
    "ax0n ax0n ax0n ax0n",
    "\n\n\n",
    "Tokens are equal across processes; hidden states move by 1e-5.",
    "日本語のテキスト",
]
CONFIGS = ["threads1-kv", "threads2-kv", "threads1-nokv", "batched"]


def _forge(
    attacker: Engine, registered: Engine, req: types_pb2.InferenceRequest, ids: list[int] | None = None
) -> tuple[types_pb2.Receipt, str]:
    """A receipt for `req` produced on `attacker` but claiming the registered model and reference."""
    gen = attacker.generate(ids or prompt_ids(attacker, req), decoding(req), bytes(req.request_id))
    liar = copy.copy(attacker)
    liar.commitment, liar.dtype = registered.commitment, registered.dtype
    gen.text = registered.decode(gen.token_ids)  # the text the registered tokenizer makes of those tokens
    gen.prompt_ids = prompt_ids(registered, req)  # and it bills the prompt the request asked for
    return Executor({"tiny": liar}, NODE_KEY).receipt(req, liar, gen, batch_size=1), gen.text


def _honest(executor: Executor, tiny: Engine, prompts: list[str]) -> list[tuple[str, Verification]]:
    """Each prompt executed under each configuration, and verified by a 1-thread prefill."""
    results = []
    reqs = [
        # every third request uses counter-based sampling instead of greedy decoding
        make_request(p, max_tokens=40, nonce=i, greedy=i % 3 != 1, temperature=0.8 * (i % 3 == 1), top_p=0.9)
        for i, p in enumerate(prompts)
    ]
    for config in CONFIGS:
        torch.set_num_threads(2 if config == "threads2-kv" else 1)
        tiny.kv_cache = config != "threads1-nokv"
        try:
            outs = executor.execute_batch(reqs) if config == "batched" else [executor.execute(r) for r in reqs]
        finally:
            torch.set_num_threads(1)
            tiny.kv_cache = True
        for req, (receipt, output) in zip(reqs, outs, strict=True):
            assert receipt.reference.threads == (2 if config == "threads2-kv" else 1)
            assert receipt.reference.kv_cache == (config != "threads1-nokv")
            results.append((config, verify(tiny, req, receipt, output)))
    return results


def _assert_honest(results: list[tuple[str, Verification]]) -> None:
    failures = [(c, v.reason, v.margins) for c, v in results if not v.valid]
    assert not failures
    worst = {
        "mismatches_max": max(v.margins["mismatches_max"] for _, v in results),
        "err_mean_max": max(v.margins["err_mean_max"] for _, v in results),
        "err_median_max": max(v.margins["err_median_max"] for _, v in results),
        "token_margin_min": min(v.margins["token_margin_min"] for _, v in results),
    }
    print(f"\nhonest margins over {len(results)} cases: {worst} (tolerance {fp.FP32.tolerance})")


def test_honest_cases_pass_in_every_configuration(executor: Executor, tiny: Engine) -> None:
    _assert_honest(_honest(executor, tiny, PROMPTS[:3]))


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_at_least_50_honest_cases_never_fail(executor: Executor, tiny: Engine) -> None:
    results = _honest(executor, tiny, PROMPTS)
    assert len(results) >= 50
    _assert_honest(results)


@pytest.fixture(scope="module")
def other_seed(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return Engine(build_tiny(tmp_path_factory.mktemp("other") / "tiny-seed1", seed=1))


def _fingerprint_fails(v: Verification) -> bool:
    m = v.margins
    return (
        m["mismatches_max"] > m["tol_mismatches"]
        or m["err_mean_max"] > m["tol_err_mean"]
        or m["err_median_max"] > m["tol_err_median"]
    )


def test_another_model_is_detected(tiny: Engine, other_seed: Engine) -> None:
    for i, prompt in enumerate(PROMPTS[:4]):
        req = make_request(prompt, max_tokens=40, nonce=100 + i)
        receipt, output = _forge(other_seed, tiny, req)
        v = verify(tiny, req, receipt, output)
        assert not v.valid and _fingerprint_fails(v), v
        print(f"\nother model: {v.reason}; {v.margins}")


def test_perturbed_weights_are_detected(tiny_dir: Path, tiny: Engine) -> None:
    perturbed = Engine(tiny_dir)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in perturbed.model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 1e-3)
    for i, prompt in enumerate(PROMPTS[:4]):
        req = make_request(prompt, max_tokens=40, nonce=200 + i)
        receipt, output = _forge(perturbed, tiny, req)
        v = verify(tiny, req, receipt, output)
        assert not v.valid and _fingerprint_fails(v), v
        print(f"\nperturbed 1e-3: {v.reason}; {v.margins}")


def test_billing_another_prompt_length_is_rejected(tiny: Engine, executor: Executor) -> None:
    req = make_request(PROMPTS[0], max_tokens=20, nonce=350)
    receipt, output = executor.execute(req)
    assert verify(tiny, req, receipt, output).valid
    inflated = types_pb2.Receipt()
    inflated.CopyFrom(receipt)
    inflated.timings.prompt_tokens += 100  # billing 100 prompt tokens more, signed by the (dishonest) node
    inflated = receipts.sign(inflated, NODE_KEY)
    v = verify(tiny, req, inflated, output)
    assert not v.valid and "prompt tokens" in v.reason


def test_changed_prompt_is_detected(tiny: Engine) -> None:
    for i, (asked, ran) in enumerate([(PROMPTS[0], PROMPTS[0] + "!"), (PROMPTS[1], PROMPTS[1].lower())]):
        req = make_request(asked, max_tokens=40, nonce=300 + i)
        receipt, output = _forge(tiny, tiny, req, ids=tiny.encode(ran))
        v = verify(tiny, req, receipt, output)
        assert not v.valid and _fingerprint_fails(v), v
        print(f"\nchanged prompt: {v.reason}; {v.margins}")


def test_lower_precision_is_detected(tiny_dir: Path, tiny: Engine) -> None:
    bf16 = Engine(tiny_dir, dtype="bfloat16")
    req = make_request(PROMPTS[2], max_tokens=40, nonce=400)
    honest_label, output = Executor({"tiny": bf16}, NODE_KEY).execute(req)
    v = verify(tiny, req, honest_label, output)
    assert not v.valid and "registered in float32" in v.reason
    for i, prompt in enumerate(PROMPTS[:4]):
        req = make_request(prompt, max_tokens=40, nonce=410 + i)
        receipt, output = _forge(bf16, tiny, req)  # claims float32
        v = verify(tiny, req, receipt, output)
        assert not v.valid and _fingerprint_fails(v), v
        print(f"\nbf16 as fp32: {v.reason}; {v.margins}")


def test_fingerprint_parameters_are_the_registered_profiles_not_the_receipts(tiny_dir: Path, tiny: Engine) -> None:
    """A receipt whose fingerprint the executor weakened (top_k = 1 in one huge chunk, or bf16's coarse encoding for
    an fp32 model), self-consistent and signed, is rejected; the honest receipt beside it passes."""
    req = make_request(PROMPTS[1], max_tokens=40, nonce=600)
    receipt, output = Executor({"tiny": tiny}, NODE_KEY).execute(req)
    assert (receipt.fingerprint.encoding, receipt.fingerprint.top_k) == (fp.FP32.encoding, 128)
    assert verify(tiny, req, receipt, output).valid
    gen = tiny.generate(prompt_ids(tiny, req), decoding(req), bytes(req.request_id))
    weak = fp.Profile(fp.FP32.encoding, 4096, 1, fp.FP32.tolerance)
    for profile in (weak, fp.BF16, fp.Profile(fp.FP32.encoding, 32, 127, fp.FP32.tolerance)):
        forged = _with(receipt)
        forged.fingerprint.CopyFrom(fp.fingerprint(gen.hidden, profile))
        v = verify(tiny, req, receipts.sign(forged, NODE_KEY), output)
        assert not v.valid and "not the registered profile's" in v.reason, v.reason
    # a bf16-registered model keeps TOPLOC's profile, and its honest receipts pass in it
    bf16 = Engine(tiny_dir, dtype="bfloat16")
    receipt, output = Executor({"tiny": bf16}, NODE_KEY).execute(req)
    assert receipt.fingerprint.encoding == fp.BF16.encoding and verify(bf16, req, receipt, output).valid
    assert "not the registered profile's" in verify(tiny, req, _relabel(receipt, "float32"), output).reason


def _relabel(r: types_pb2.Receipt, dtype: str) -> types_pb2.Receipt:
    out = _with(r)
    out.reference.dtype = dtype
    return receipts.sign(out, NODE_KEY)


def test_tampered_receipts_are_rejected_without_crashing(tiny: Engine, executor: Executor) -> None:
    req = make_request(PROMPTS[0], max_tokens=40, nonce=500)
    receipt, output = executor.execute(req)
    assert verify(tiny, req, receipt, output).valid
    cases = {
        "output hash is not the served output": (receipt, output + "x"),
        "another request": (_with(receipt, request_id=b"\x00" * 32), output),
        "signed by": (_with(receipt, fee="1"), output),
        "wrong number of chunks": (_with(receipt, chunks=[]), output),
    }
    for reason, (r, out) in cases.items():
        v = verify(tiny, req, r, out)
        assert not v.valid and reason in v.reason, (reason, v.reason)
    truncated = _resigned(tiny, receipt, output_token_ids=list(receipt.output_token_ids)[:-3])
    v = verify(tiny, req, truncated, tiny.decode(truncated.output_token_ids))
    assert not v.valid and "stopped early" in v.reason
    swapped = list(receipt.output_token_ids)
    swapped[5] = (swapped[5] + 1) % 256
    r = _resigned(tiny, receipt, output_token_ids=swapped)
    v = verify(tiny, req, r, tiny.decode(swapped))
    assert not v.valid and "output hash" not in v.reason
    garbage = receipts.sign(_with(receipt, chunks=[b"\x00" * 530, b"\x01" * 530]), NODE_KEY)
    v = verify(tiny, req, garbage, output)
    assert not v.valid and "fingerprint" in v.reason


def _with(r: types_pb2.Receipt, chunks: list[bytes] | None = None, **fields: object) -> types_pb2.Receipt:
    out = types_pb2.Receipt()
    out.CopyFrom(r)
    for k, val in fields.items():
        if k == "output_token_ids":
            del out.output_token_ids[:]
            out.output_token_ids.extend(val)  # type: ignore[arg-type]
        else:
            setattr(out, k, val)
    if chunks is not None:
        del out.fingerprint.chunks[:]
        out.fingerprint.chunks.extend(chunks)
    return out


def _resigned(engine: Engine, r: types_pb2.Receipt, **fields: object) -> types_pb2.Receipt:
    """A changed receipt re-signed by the node (a dishonest node signs what it likes)."""
    out = _with(r, **fields)  # type: ignore[arg-type]
    out.output_hash = receipts.output_hash(engine.decode(out.output_token_ids))
    return receipts.sign(out, NODE_KEY)
