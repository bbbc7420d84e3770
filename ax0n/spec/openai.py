"""The request an OpenAI-style body describes: `/v1/chat/completions` and `/v1/completions`.

The router and the SDKs share this mapping, so a client can sign the request the router will rebuild. A body
that does not describe one request raises `InvalidBody` naming the field (the router answers 400), never
another exception: the API is reachable by anyone.

Sampling: temperature absent or 0 → greedy; otherwise temperature, top_p (default 1) and `stop`. A prompt is
text: a string or a one-string list; token-id prompts and several prompts per request are refused, since the
signed request commits to text (its canonical input) and to one answer.
"""

from __future__ import annotations

import math
from typing import Any

from ax0n.v1 import types_pb2

MAX_STOP = 4  # as the OpenAI API
UINT32 = 2**32 - 1


class InvalidBody(ValueError):
    """The body does not describe one request; the message names the field."""


def _number(body: dict[str, Any], name: str, lo: float, hi: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidBody(f"{name} must be a number, got {value!r}")
    if not lo <= value <= hi:
        raise InvalidBody(f"{name} must be in [{lo}, {hi}], got {value}")
    return float(value)


def _max_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidBody(f"{name} must be an integer, got {value!r}")
        if not 1 <= value <= UINT32:
            raise InvalidBody(f"{name} must be a positive integer, got {value}")
        return value
    return 0  # absent: the router's default for API-key requests; a signed request must name it


def _text_content(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if not isinstance(content, list):
        raise InvalidBody(f"{where}.content must be a string or a list of text parts")
    parts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidBody(f"{where}.content[{j}]: only text parts ({{'type': 'text', 'text': ...}}) are supported")
        parts.append(part["text"])
    return "".join(parts)


def _messages(body: dict[str, Any], req: types_pb2.InferenceRequest) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidBody("messages must be a non-empty list of {role, content} objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise InvalidBody(f"messages[{i}] must be an object with a string role")
        req.messages.add(role=m["role"], content=_text_content(m.get("content"), f"messages[{i}]"))


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        return prompt[0]
    if isinstance(prompt, list) and prompt and all(isinstance(t, int | list) for t in prompt):
        raise InvalidBody("prompt: token-id prompts are not supported; send the prompt as text")
    if isinstance(prompt, list) and len(prompt) > 1:
        raise InvalidBody("prompt: one prompt per request (a string or a one-string list)")
    raise InvalidBody(f"prompt must be a string, got {type(prompt).__name__}")


def _stop(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > MAX_STOP:
        raise InvalidBody(f"stop must be a string or a list of at most {MAX_STOP} strings")
    return stops


def from_openai(body: Any, *, chat: bool) -> types_pb2.InferenceRequest:
    """The unsigned request an OpenAI `/v1/chat/completions` (chat) or `/v1/completions` body describes."""
    if not isinstance(body, dict):
        raise InvalidBody("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidBody("model must be a non-empty string")
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidBody(f"n: one completion per request, got {n!r}")
    if not isinstance(body.get("stream", False), bool):
        raise InvalidBody("stream must be a boolean")
    req = types_pb2.InferenceRequest(model_id=model, max_tokens=_max_tokens(body))
    if chat:
        _messages(body, req)
    else:
        req.prompt = _prompt(body)
    temperature = _number(body, "temperature", 0.0, 2.0, 0.0)
    top_p = _number(body, "top_p", 0.0, 1.0, 1.0)
    req.sampling.greedy = temperature == 0.0
    if not req.sampling.greedy:
        req.sampling.temperature, req.sampling.top_p = temperature, top_p
    req.sampling.stop.extend(_stop(body))
    return req
