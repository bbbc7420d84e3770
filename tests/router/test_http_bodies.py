"""The OpenAI-compatible HTTP API against bodies anyone can send: oversized bodies get 413 unread, malformed ones a
4xx naming the field (never a 500), and the server keeps serving."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.router.conftest import API_KEY, RouterUnderTest

LIMIT = 1 << 20  # the router's default max_body_bytes
FIELDS = ("model", "messages", "prompt", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "n")
NAMED = (*FIELDS, "stream", "ax0n", "body", "JSON")


async def _status_line(router: RouterUnderTest, head: bytes, body: bytes) -> bytes:
    url = urlsplit(router.http_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def _still_serving(router: RouterUnderTest) -> None:
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key=API_KEY, max_retries=0)
    chat = await client.chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "still here"}], max_tokens=4
    )
    assert chat.choices[0].message.content == "STILL HERE"


async def test_a_100_mb_body_is_refused_with_413_unread(router: RouterUnderTest) -> None:
    declared = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: router\r\nContent-Type: application/json\r\n"
        b"Content-Length: 104857600\r\n\r\n"
    )
    assert b" 413 " in await _status_line(router, declared, b"{" * 65_536)
    # no declared length: the body is read only up to the limit
    chunk = b"%x\r\n%s\r\n" % (65_536, b" " * 65_536)
    chunked = b"POST /v1/completions HTTP/1.1\r\nHost: router\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert b" 413 " in await _status_line(router, chunked, chunk * (LIMIT // 65_536 + 2))
    await _still_serving(router)


async def test_token_id_prompts_get_a_clear_400(router: RouterUnderTest) -> None:
    client = openai.AsyncOpenAI(base_url=router.http_url + "/v1", api_key=API_KEY, max_retries=0)
    for prompt in ([1, 2, 3], [[1, 2], [3]]):
        try:
            await client.completions.create(model="smollm2", prompt=prompt, max_tokens=4)
        except openai.BadRequestError as exc:
            assert "token-id prompts are not supported" in exc.message
        else:
            raise AssertionError("a token-id prompt was accepted")
    await _still_serving(router)


JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "system"]) | JUNK}, optional={"content": JUNK})
BODY = st.fixed_dictionaries(
    {},
    optional={
        "model": st.just("smollm2") | JUNK,
        "messages": st.lists(MESSAGE | JUNK, max_size=2) | JUNK,
        "prompt": st.text(max_size=8) | JUNK,
        **{name: JUNK for name in FIELDS[3:]},
        "stream": st.booleans() | JUNK,
        "ax0n": st.fixed_dictionaries({"signature": st.just("0x" + "11" * 65)}, optional={"nonce": JUNK}) | JUNK,
    },
)


def _post(url: str, path: str, body: Any, api_key: str | None) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        conn.request("POST", path, json.dumps(body).encode(), headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


async def test_malformed_openai_bodies_get_a_4xx_naming_the_field(router: RouterUnderTest) -> None:
    """Every body hypothesis can build from junk: a 4xx whose message names what to fix; never a 5xx."""

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=BODY | JUNK, chat=st.booleans())
    def property(body: Any, chat: bool) -> None:
        path = "/v1/chat/completions" if chat else "/v1/completions"
        status, doc = _post(router.http_url, path, body, None)  # no credentials: nothing is ever served
        assert 400 <= status < 500, (status, body, doc)
        message = doc["error"]["message"]
        if status == 400:
            assert any(name in message for name in NAMED), (message, body)

    await asyncio.to_thread(property)
    await _still_serving(router)
