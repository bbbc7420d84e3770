"""What a signed request asks the model for: its input token ids and decoding, and the text its tokens decode to."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import DecodeError

from ax0n.llm.engine import Engine
from ax0n.llm.errors import InvalidRequest, check_utf8
from ax0n.llm.sampling import Decoding
from ax0n.v1 import types_pb2


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


def expected_text(engine: Engine, tokens: Sequence[int], stop: Sequence[str]) -> tuple[str, bool]:
    """The output text for `tokens` and whether a stop string ended it."""
    text = engine.decode(tokens)
    cut = min((j for j in (text.find(s) for s in stop if s) if j >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
