"""LLM-tier verification by re-execution: one prefill of prompt + output on the verifier's own copy of the model.

Validators run this on compute they own (in-process, or a re-executor they run); it is never asked of the node
whose receipt is judged. An executor may run it as a self-check.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ax0n.llm.engine import Engine
from ax0n.llm.errors import ExecutorError
from ax0n.llm.inputs import decoding, expected_text, prompt_ids
from ax0n.llm.sampling import token_margin
from ax0n.spec import answers, binding
from ax0n.spec import fingerprint as fp
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.v1 import types_pb2


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of re-executing a receipt; `margins` tell how close each check came to its limit."""

    valid: bool
    reason: str
    margins: dict[str, float] = field(default_factory=dict)


def verify(engine: Engine, req: types_pb2.InferenceRequest, r: types_pb2.Receipt, output: str) -> Verification:
    """Re-execute `r` on `engine` and decide in the fingerprint profile of the engine's (registered) dtype: its encoding,
    chunk size, k and tolerance, whatever the receipt claims."""
    bad = _static_checks(engine, req, r, output)
    if bad:
        return Verification(False, bad)
    try:
        d = decoding(req)
        ids = prompt_ids(engine, req)
    except ExecutorError as exc:
        return Verification(False, f"request cannot be executed: {exc}")
    if r.timings.prompt_tokens != len(ids):
        return Verification(False, f"receipt bills {r.timings.prompt_tokens} prompt tokens; the prompt has {len(ids)}")
    tokens = list(r.output_token_ids)
    if any(t >= len(engine.tokenizer) for t in tokens) or len(ids) + len(tokens) - 1 > engine.context:
        return Verification(False, "output tokens are outside the vocabulary or the context")
    text, stopped = expected_text(engine, tokens, d.stop)
    if text != output:
        return Verification(False, "output text is not the decoding of output_token_ids")
    ended = stopped or tokens[-1] in engine.eos_ids or len(tokens) == d.max_tokens
    ended = ended or len(ids) + len(tokens) >= engine.context
    if not ended or len(tokens) > d.max_tokens:
        return Verification(False, "generation stopped early or ran past max_tokens")
    if any(t in engine.eos_ids for t in tokens[:-1]) or expected_text(engine, tokens[:-1], d.stop)[1]:
        return Verification(False, "generation went on past a stop condition")
    hidden, logits = engine.prefill(ids, tokens)
    token_min = min(token_margin(logits[i], t, d, bytes(req.request_id), i) for i, t in enumerate(tokens))
    profile = fp.profile_for(engine.dtype)  # the registered precision's, never the receipt's
    tol = profile.tolerance
    try:
        checks = [
            fp.check_chunk(chunk, bytes(data), profile)
            for chunk, data in zip(fp.chunks(hidden, profile.chunk_tokens), r.fingerprint.chunks, strict=True)
        ]
    except fp.FingerprintError as exc:
        return Verification(False, f"malformed fingerprint: {exc}")
    margins = {
        "token_margin_min": token_min,
        "mismatches_max": float(max(c.mismatches for c in checks)),
        "err_mean_max": max(c.err_mean for c in checks),
        "err_median_max": max(c.err_median for c in checks),
        "tol_mismatches": float(tol.max_mismatches),
        "tol_err_mean": tol.max_err_mean,
        "tol_err_median": tol.max_err_median,
    }
    if token_min < 0:
        return Verification(False, "an output token is not what the model chooses at its step", margins)
    failed = [i for i, c in enumerate(checks) if not c.passes(tol)]
    if failed:
        return Verification(False, f"fingerprint chunks {failed} are outside tolerance", margins)
    return Verification(True, "", margins)


def _static_checks(engine: Engine, req: types_pb2.InferenceRequest, r: types_pb2.Receipt, output: str) -> str:
    """Cheap checks before re-execution; returns the reason for rejection, or ''."""
    if bytes(r.model_commitment) != engine.commitment:
        return f"receipt commits to model 0x{bytes(r.model_commitment).hex()}, not 0x{engine.commitment.hex()}"
    if r.tier != types_pb2.TIER_LLM:
        return f"receipt is not an LLM-tier receipt (tier {r.tier})"
    if why := answers.consistency_fault(r, req):
        return why
    why = binding.io_mismatch(r, req, output)
    if why:
        return why
    if not r.output_token_ids:
        return "receipt has no output tokens"
    if why := fp.receipt_fault(r, engine.dtype):
        return why
    try:
        receipts.verify(r)
    except requests.InvalidSignature as exc:
        return str(exc)
    return ""
