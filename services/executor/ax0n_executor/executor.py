"""Serving committed models: requests in, signed receipts out; and verification by prefill re-execution."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from ax0n.llm.engine import Engine, Generation, OnText
from ax0n.llm.errors import ExecutorError, InvalidRequest, UnknownModel, check_utf8
from ax0n.llm.sampling import Decoding, token_margin
from ax0n.spec import fingerprint as fp
from ax0n.spec import params
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.v1 import types_pb2
from ax0n.zk.mlp import QuantizedMLP
from ax0n_executor import zk


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of re-executing a receipt; `margins` tell how close each check came to its limit."""

    valid: bool
    reason: str
    margins: dict[str, float] = field(default_factory=dict)


def parse_request(data: bytes) -> types_pb2.InferenceRequest:
    """Parse a request from wire bytes; protobuf refuses strings that are not UTF-8, reported precisely."""
    try:
        return types_pb2.InferenceRequest.FromString(data)
    except DecodeError as exc:
        raise InvalidRequest(f"not a valid InferenceRequest (text fields must be UTF-8): {exc}") from exc


def decoding(req: types_pb2.InferenceRequest) -> Decoding:
    """Decoding parameters of a request: greedy when asked or when temperature is 0; top_p 0 means 1."""
    s = req.sampling
    for stop in s.stop:
        check_utf8(stop, "stop string")
    return Decoding(
        max_tokens=req.max_tokens,
        greedy=s.greedy or s.temperature == 0.0,
        temperature=s.temperature or 1.0,
        top_p=s.top_p or 1.0,
        top_k=s.top_k,
        stop=tuple(s.stop),
    )


def prompt_ids(engine: Engine, req: types_pb2.InferenceRequest) -> list[int]:
    """The model input of a request: its chat messages through the template, or its plain prompt."""
    if req.messages and req.prompt:
        raise InvalidRequest("send either a prompt or chat messages, not both")
    return engine.encode(req.prompt, [(m.role, m.content) for m in req.messages])


def _expected_text(engine: Engine, tokens: Sequence[int], stop: Sequence[str]) -> tuple[str, bool]:
    """The output text for `tokens` and whether a stop string ended it."""
    text = engine.decode(tokens)
    cut = min((j for j in (text.find(s) for s in stop if s) if j >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class Executor:
    """The models one node serves (LLM-tier engines, zk-tier MLPs), their prices in wei per 1k tokens, and the
    node key that signs its receipts."""

    def __init__(
        self,
        engines: dict[str, Engine],
        node_key: bytes | str,
        prices: dict[str, int] | None = None,
        zk_models: dict[str, QuantizedMLP] | None = None,
    ):
        self.engines = engines
        self.node_key = node_key
        self.prices = prices or {}
        self.zk_models = zk_models or {}

    def served(self) -> list[str]:
        return sorted([*self.engines, *self.zk_models])

    def engine(self, model_id: str) -> Engine:
        try:
            return self.engines[model_id]
        except KeyError:
            raise UnknownModel(f"model {model_id!r} is not served here; served: {self.served()}") from None

    def prepare(self, req: types_pb2.InferenceRequest) -> tuple[Engine, list[int], Decoding]:
        """Validate a request and turn it into model input; raises ExecutorError subclasses."""
        check_utf8(req.model_id, "model_id")
        engine = self.engine(req.model_id)
        if len(req.request_id) != 32:
            raise InvalidRequest(f"request_id must be 32 bytes, got {len(req.request_id)}")
        d = decoding(req)
        ids = prompt_ids(engine, req)
        engine.check(ids, d)
        if req.prompt_hash and bytes(req.prompt_hash) != requests.prompt_hash(req):
            raise InvalidRequest("prompt_hash does not match the prompt, messages and sampling")
        return engine, ids, d

    def execute(
        self, req: types_pb2.InferenceRequest, on_text: OnText | None = None, queued_s: float = 0.0
    ) -> tuple[types_pb2.Receipt, str]:
        if req.model_id in self.zk_models:
            check_utf8(req.prompt, "prompt")
            receipt, output = zk.execute(
                self.zk_models[req.model_id], req, self.prices.get(req.model_id, 0), self.node_key
            )
            if on_text is not None:
                on_text(0, output, [])
            return receipt, output
        engine, ids, d = self.prepare(req)
        gen = engine.generate(ids, d, bytes(req.request_id), on_text)
        return self.receipt(req, engine, gen, batch_size=1, queued_s=queued_s), gen.text

    def execute_batch(self, reqs: Sequence[types_pb2.InferenceRequest]) -> list[tuple[types_pb2.Receipt, str]]:
        """Execute requests for one model together (one left-padded batch); all must be valid."""
        prepared = [self.prepare(r) for r in reqs]
        engine = prepared[0][0]
        if any(p[0] is not engine for p in prepared):
            raise InvalidRequest("a batch must be for one model")
        gens = engine.generate_batch([p[1] for p in prepared], [p[2] for p in prepared], [r.request_id for r in reqs])
        return [(self.receipt(r, engine, g, batch_size=len(reqs)), g.text) for r, g in zip(reqs, gens, strict=True)]

    def receipt(
        self, req: types_pb2.InferenceRequest, engine: Engine, gen: Generation, batch_size: int, queued_s: float = 0.0
    ) -> types_pb2.Receipt:
        """The signed receipt of one generation."""
        tokens = len(gen.prompt_ids) + len(gen.token_ids)
        fee = params.fee(self.prices.get(req.model_id, 0), tokens, req.fee_cap)
        r = types_pb2.Receipt(
            request_id=req.request_id,
            model_id=req.model_id,
            model_commitment=engine.commitment,
            tier=types_pb2.TIER_LLM,
            input_hash=requests.prompt_hash(req),
            output_hash=receipts.output_hash(gen.text),
            route=req.route,
            fingerprint=types_pb2.Fingerprint(
                chunk_tokens=fp.CHUNK_TOKENS, top_k=fp.TOP_K, chunks=fp.fingerprint(gen.hidden), encoding=fp.ENCODING
            ),
            reference=engine.reference(batch_size),
            timings=types_pb2.Timings(
                queued_ms=round(queued_s * 1000),
                first_token_ms=round(gen.first_token_s * 1000),
                total_ms=round(gen.total_s * 1000),
                output_tokens=len(gen.token_ids),
            ),
            fee=str(fee),
            client=req.client,
            fee_cap=req.fee_cap,
            output_token_ids=gen.token_ids,
            chain_id=req.chain_id,
        )
        return receipts.sign(r, self.node_key)

    def reexecute(self, req: types_pb2.InferenceRequest, r: types_pb2.Receipt, output: str) -> Verification:
        """Verify a receipt by one prefill of prompt + output on this node's copy of the model."""
        return verify(self.engine(r.model_id), req, r, output)


def verify(engine: Engine, req: types_pb2.InferenceRequest, r: types_pb2.Receipt, output: str) -> Verification:
    """Re-execute `r` on `engine` and decide within the tolerances of the engine's (registered) dtype."""
    bad = _static_checks(engine, req, r, output)
    if bad:
        return Verification(False, bad)
    try:
        d = decoding(req)
        ids = prompt_ids(engine, req)
    except ExecutorError as exc:
        return Verification(False, f"request cannot be executed: {exc}")
    tokens = list(r.output_token_ids)
    if any(t >= len(engine.tokenizer) for t in tokens) or len(ids) + len(tokens) - 1 > engine.context:
        return Verification(False, "output tokens are outside the vocabulary or the context")
    text, stopped = _expected_text(engine, tokens, d.stop)
    if text != output:
        return Verification(False, "output text is not the decoding of output_token_ids")
    ended = stopped or tokens[-1] in engine.eos_ids or len(tokens) == d.max_tokens
    ended = ended or len(ids) + len(tokens) >= engine.context
    if not ended or len(tokens) > d.max_tokens:
        return Verification(False, "generation stopped early or ran past max_tokens")
    if any(t in engine.eos_ids for t in tokens[:-1]) or _expected_text(engine, tokens[:-1], d.stop)[1]:
        return Verification(False, "generation went on past a stop condition")
    hidden, logits = engine.prefill(ids, tokens)
    token_min = min(token_margin(logits[i], t, d, bytes(req.request_id), i) for i, t in enumerate(tokens))
    tol = fp.tolerance_for(engine.dtype)
    try:
        checks = [
            fp.check_chunk(chunk, bytes(data), r.fingerprint.top_k)
            for chunk, data in zip(fp.chunks(hidden, r.fingerprint.chunk_tokens), r.fingerprint.chunks, strict=True)
        ]
    except fp.FingerprintError as exc:
        return Verification(False, f"malformed fingerprint: {exc}")
    margins = {
        "token_margin_min": token_min,
        "exp_mismatches_max": float(max(c.exp_mismatches for c in checks)),
        "mant_mean_max": max(c.mant_mean for c in checks),
        "mant_median_max": max(c.mant_median for c in checks),
        "tol_exp_mismatches": float(tol.max_exp_mismatches),
        "tol_mant_mean": tol.max_mant_mean,
        "tol_mant_median": tol.max_mant_median,
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
    if bytes(r.request_id) != bytes(req.request_id):
        return "receipt is for another request"
    if bytes(r.input_hash) != requests.prompt_hash(req):
        return "input_hash does not match the request's prompt, messages and sampling"
    if bytes(r.output_hash) != receipts.output_hash(output):
        return "output_hash does not match the output"
    if r.reference.dtype != engine.dtype:
        return f"executed in {r.reference.dtype}, the model is registered in {engine.dtype}"
    f = r.fingerprint
    if f.encoding != fp.ENCODING or f.chunk_tokens == 0 or f.top_k == 0:
        return f"unsupported fingerprint encoding {f.encoding!r} (chunk_tokens {f.chunk_tokens}, top_k {f.top_k})"
    if not r.output_token_ids:
        return "receipt has no output tokens"
    if len(f.chunks) != math.ceil(len(r.output_token_ids) / f.chunk_tokens):
        return "fingerprint has the wrong number of chunks for the output"
    try:
        receipts.verify(r)
    except requests.InvalidSignature as exc:
        return str(exc)
    return ""
