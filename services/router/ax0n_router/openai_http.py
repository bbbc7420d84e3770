"""The OpenAI-compatible HTTP API: /v1/chat/completions, /v1/completions (SSE streaming), /v1/models.

Two ways to authorise a request:
- signed: the body carries `"ax0n": {"client", "signature", "nonce", "deadline", "fee_cap",
  "max_latency_ms", "chain_id", "settlement"}` (hex for bytes; `extra_body` in the openai client) and the client
  signed the request `ax0n.spec.request.from_openai(body)` describes, completed with those fields;
- API key: `Authorization: Bearer KEY` where sha256(KEY) is bound, in the router's key file, to the
  key of an escrow account; the router fills fee cap (the base fee), nonce, deadline and signs with it.
Responses and the last stream chunk carry the evidence as an `ax0n` extension object.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ax0n.spec import fees, openai
from ax0n.spec import request as signing
from ax0n.spec.answers import DEVNET, Deployment
from ax0n.v1 import router_pb2, types_pb2
from ax0n_router import errors
from ax0n_router.core import RouterCore
from ax0n_router.errors import Rejection


@dataclass(frozen=True, slots=True)
class ApiDefaults:
    deployment: Deployment = DEVNET  # the chain and Settlement API-key requests are signed for
    deadline_s: int = 300
    max_latency_ms: int = 60_000
    max_tokens: int = 256
    max_body_bytes: int = 1 << 20  # larger bodies get 413 unread


def error_response(rej: Rejection) -> JSONResponse:
    headers = {"Retry-After": str(rej.retry_after_s)} if rej.retry_after_s is not None else None
    body = {"error": {"message": rej.message, "type": rej.code.name.lower(), "code": rej.code.name}}
    return JSONResponse(body, status_code=rej.http, headers=headers)


def evidence(req: types_pb2.InferenceRequest, result: types_pb2.InferenceResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {"request_id": bytes(req.request_id).hex(), "route": MessageToDict(req.route)}
    if result is not None:
        for name in ("receipt", "proof", "certificate", "settlement"):
            if result.HasField(name):
                out[name] = MessageToDict(getattr(result, name))
    return out


class OpenAIApi:
    def __init__(
        self, core: RouterCore, api_keys: dict[bytes, str] | None = None, defaults: ApiDefaults = ApiDefaults()
    ) -> None:
        self.core, self.api_keys, self.defaults = core, api_keys or {}, defaults
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    def build_request(self, body: dict[str, Any], authorization: str, chat: bool) -> types_pb2.InferenceRequest:
        try:
            req = openai.from_openai(body, chat=chat)
        except openai.InvalidBody as exc:
            raise errors.invalid(str(exc)) from None
        ext = body.get("ax0n")
        try:
            if isinstance(ext, dict) and ext.get("signature"):
                req.client = bytes.fromhex(str(ext["client"]).removeprefix("0x"))
                req.signature = bytes.fromhex(str(ext["signature"]).removeprefix("0x"))
                req.nonce, req.deadline = int(ext["nonce"]), int(ext["deadline"])
                req.fee_cap, req.max_latency_ms = str(int(ext["fee_cap"])), int(ext["max_latency_ms"])
                req.chain_id = int(ext.get("chain_id", self.defaults.deployment.chain_id))
                settlement = ext.get("settlement")
                req.settlement = (
                    bytes.fromhex(str(settlement).removeprefix("0x"))
                    if settlement
                    else self.defaults.deployment.settlement
                )
                req.prompt_hash = signing.prompt_hash(req)
                return req
        except (KeyError, ValueError, TypeError) as exc:
            raise errors.invalid(f"malformed ax0n extension: {exc}") from None
        token = authorization.removeprefix("Bearer ").strip()
        key = self.api_keys.get(hashlib.sha256(token.encode()).digest()) if token else None
        if key is None:
            raise errors.unauthenticated("no ax0n signature in the body and no valid API key")
        model = self.core.admission.registry.model(req.model_id)
        req.max_tokens = req.max_tokens or self.defaults.max_tokens
        price = fees.amount(model.price_per_1k_tokens, "price") if model is not None else 0
        req.fee_cap = str(fees.base_fee(price, req.max_tokens))
        req.nonce = secrets.randbits(63)
        req.deadline = int(time.time()) + self.defaults.deadline_s
        req.max_latency_ms = self.defaults.max_latency_ms
        req.chain_id, req.settlement = self.defaults.deployment.chain_id, self.defaults.deployment.settlement
        return signing.sign(req, key)

    async def _body(self, http: Request) -> Any:
        """The JSON body, read no further than `max_body_bytes` (413 past it, declared or streamed)."""
        limit = self.defaults.max_body_bytes
        declared = http.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise errors.too_large(f"request body is {declared} bytes; the limit is {limit}")
        raw = bytearray()
        async for chunk in http.stream():
            raw += chunk
            if len(raw) > limit:
                raise errors.too_large(f"request body exceeds the limit of {limit} bytes")
        try:
            return json.loads(raw)
        except ValueError as exc:  # includes UnicodeDecodeError
            raise errors.invalid(f"invalid JSON body: {exc}") from None

    async def _serve(self, http: Request, chat: bool) -> Response:
        try:
            body = await self._body(http)
        except Rejection as rej:
            return error_response(rej)
        try:
            req = self.build_request(body, http.headers.get("authorization", ""), chat)
            sub = await self.core.submit(req)
        except Rejection as rej:
            return error_response(rej)
        items = self.core.follow(req, sub)
        kind = "chat.completion" if chat else "text_completion"
        base = {"id": f"ax0n-{bytes(req.request_id).hex()}", "created": int(time.time()), "model": req.model_id}
        if body.get("stream"):
            return StreamingResponse(self._sse(items, req, base, kind, chat), media_type="text/event-stream")
        text, finish, result = [], "stop", None
        try:
            async for item in items:
                if item.HasField("result"):
                    result = item.result
                else:
                    text.append(item.chunk.delta)
                    finish = item.chunk.finish_reason or finish
        except Rejection as rej:
            return error_response(rej)
        assert result is not None
        output = result.output or "".join(text)
        choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": output}
        else:
            choice.update(text=output, logprobs=None)
        return JSONResponse({**base, "object": kind, "choices": [choice], "ax0n": evidence(req, result)})

    async def _sse(
        self,
        items: AsyncIterator[router_pb2.StreamChunk],
        req: types_pb2.InferenceRequest,
        base: dict[str, Any],
        kind: str,
        chat: bool,
    ) -> AsyncIterator[bytes]:
        def event(doc: dict[str, Any]) -> bytes:
            return f"data: {json.dumps(doc)}\n\n".encode()

        def choice(delta: str, finish: str | None) -> dict[str, Any]:
            if chat:
                return {
                    "index": 0,
                    "delta": {"role": "assistant", "content": delta} if delta else {},
                    "finish_reason": finish,
                }
            return {"index": 0, "text": delta, "finish_reason": finish, "logprobs": None}

        finish = "stop"
        try:
            async for item in items:
                if item.HasField("result"):
                    last = {**base, "object": f"{kind}.chunk", "choices": [choice("", finish)]}
                    yield event({**last, "ax0n": evidence(req, item.result)})
                else:
                    finish = item.chunk.finish_reason or finish
                    if item.chunk.delta:
                        yield event({**base, "object": f"{kind}.chunk", "choices": [choice(item.chunk.delta, None)]})
        except Rejection as rej:
            yield event({"error": {"message": rej.message, "type": rej.code.name.lower(), "code": rej.code.name}})
        yield b"data: [DONE]\n\n"

    async def chat(self, http: Request) -> Response:
        return await self._serve(http, chat=True)

    async def completions(self, http: Request) -> Response:
        return await self._serve(http, chat=False)

    async def models(self, http: Request) -> Response:
        data = [
            {
                "id": m.model_id,
                "object": "model",
                "created": 0,
                "owned_by": "ax0n",
                "ax0n": {
                    "tier": types_pb2.Tier.Name(m.tier),
                    "commitment": m.commitment.hex(),
                    "parameters": m.parameters,
                    "price_per_1k_tokens": m.price_per_1k_tokens,
                },
            }
            for m in self.core.admission.registry.models()
            if m.active
        ]
        return JSONResponse({"object": "list", "data": data})
