"""Serving committed models: requests in, signed receipts out."""

from __future__ import annotations

from collections.abc import Sequence

from ax0n.llm.engine import Engine, Generation, OnText
from ax0n.llm.errors import InvalidRequest, UnknownModel, check_utf8
from ax0n.llm.inputs import decoding, prompt_ids
from ax0n.llm.sampling import Decoding
from ax0n.spec import answers, fees
from ax0n.spec import fingerprint as fp
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2
from ax0n.zk.mlp import QuantizedMLP
from ax0n_executor import zk


class Executor:
    """The models one node serves (LLM-tier engines, zk-tier MLPs), their prices in wei per 1k tokens, and the
    node key that signs its receipts."""

    def __init__(
        self,
        engines: dict[str, Engine],
        node_key: bytes | str,
        prices: dict[str, int] | None = None,
        zk_models: dict[str, QuantizedMLP] | None = None,
        params: Params = MAINNET,
    ):
        self.engines = engines
        self.node_key = node_key
        self.prices = prices or {}
        self.zk_models = zk_models or {}
        self.params = params

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
                self.zk_models[req.model_id], req, self.prices.get(req.model_id, 0), self.node_key, self.params
            )
            if on_text is not None:
                on_text(0, output, [])
            return receipt, output
        engine, ids, d = self.prepare(req)
        gen = engine.generate(ids, d, bytes(req.request_id), on_text)
        return self.receipt(req, engine, gen, batch_size=1, queued_s=queued_s), gen.text

    def execute_batch(
        self, reqs: Sequence[types_pb2.InferenceRequest], on_text: OnText | None = None
    ) -> list[tuple[types_pb2.Receipt, str]]:
        """Execute requests for one model together (one left-padded batch), streaming each row's text as it is
        generated; all must be valid."""
        prepared = [self.prepare(r) for r in reqs]
        engine = prepared[0][0]
        if any(p[0] is not engine for p in prepared):
            raise InvalidRequest("a batch must be for one model")
        gens = engine.generate_batch(
            [p[1] for p in prepared], [p[2] for p in prepared], [r.request_id for r in reqs], on_text
        )
        return [(self.receipt(r, engine, g, batch_size=len(reqs)), g.text) for r, g in zip(reqs, gens, strict=True)]

    def receipt(
        self, req: types_pb2.InferenceRequest, engine: Engine, gen: Generation, batch_size: int, queued_s: float = 0.0
    ) -> types_pb2.Receipt:
        """The signed receipt of one generation."""
        r = types_pb2.Receipt(
            request_id=req.request_id,
            model_id=req.model_id,
            model_commitment=engine.commitment,
            tier=types_pb2.TIER_LLM,
            input_hash=requests.prompt_hash(req),
            output_hash=receipts.output_hash(gen.text),
            route=req.route,
            fingerprint=fp.fingerprint(gen.hidden, fp.profile_for(engine.dtype)),
            reference=engine.reference(batch_size),
            timings=types_pb2.Timings(
                queued_ms=round(queued_s * 1000),
                first_token_ms=round(gen.first_token_s * 1000),
                total_ms=round(gen.total_s * 1000),
                output_tokens=len(gen.token_ids),
                prompt_tokens=len(gen.prompt_ids),
            ),
            client=req.client,
            fee_cap=req.fee_cap,
            output_token_ids=gen.token_ids,
            chain_id=req.chain_id,
            settlement=req.settlement,
        )
        cap = fees.amount(req.fee_cap, "fee_cap")
        r.fee = str(fees.charge(self.prices.get(req.model_id, 0), answers.billed_tokens(r), cap, self.params))
        return receipts.sign(r, self.node_key)
