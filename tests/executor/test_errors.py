"""Bad input gets a precise error (and gRPC status); nothing crashes."""

from __future__ import annotations

import grpc
import pytest
from ax0n_executor.executor import Executor

from ax0n.llm.engine import Engine
from ax0n.llm.errors import ContextOverflow, ExecutorError, InvalidRequest, UnknownModel
from ax0n.llm.inputs import parse_request
from ax0n.v1 import types_pb2
from tests.executor.conftest import make_request


def _raises(executor: Executor, req: types_pb2.InferenceRequest, kind: type[ExecutorError], match: str) -> None:
    with pytest.raises(kind, match=match) as err:
        executor.execute(req)
    assert err.value.code == kind.code


def test_empty_prompt(executor: Executor) -> None:
    _raises(executor, make_request(""), InvalidRequest, "^prompt is empty$")
    _raises(executor, make_request(messages=(("user", ""),)), InvalidRequest, "every chat message has empty content")


def test_prompt_beyond_the_context(executor: Executor) -> None:
    _raises(executor, make_request("x" * 512), ContextOverflow, "prompt is 512 tokens; the model's context is 512")
    assert ContextOverflow.code == grpc.StatusCode.OUT_OF_RANGE
    receipt, _ = executor.execute(make_request("x" * 500, max_tokens=40))  # fits: stops at the context
    assert receipt.timings.output_tokens == 12


def test_unknown_model(executor: Executor) -> None:
    _raises(executor, make_request("hi", model_id="gpt-7"), UnknownModel, "model 'gpt-7' is not served here")
    assert UnknownModel.code == grpc.StatusCode.NOT_FOUND


def test_max_tokens_must_be_positive(executor: Executor) -> None:
    _raises(executor, make_request("hi", max_tokens=0), InvalidRequest, "max_tokens must be at least 1, got 0")


def test_non_utf8_text(executor: Executor, tiny: Engine) -> None:
    # On the wire: protobuf refuses a string field holding non-UTF-8 bytes; the executor names the problem.
    wire = make_request("café").SerializeToString().replace("é".encode(), b"\xe9\x00")
    with pytest.raises(InvalidRequest, match="not a valid InferenceRequest \\(text fields must be UTF-8\\)"):
        parse_request(wire)
    # In-process text decoded with surrogateescape (lone surrogates) is not UTF-8 either.
    with pytest.raises(InvalidRequest, match="prompt is not valid UTF-8 text \\(bad code point at offset 3\\)"):
        tiny.encode("caf\udce9")
    with pytest.raises(InvalidRequest, match="message content is not valid UTF-8"):
        tiny.encode(messages=[("user", "\udcff")])


def test_other_bad_requests(executor: Executor) -> None:
    req = make_request("hi")
    req.request_id = b"\x01"
    _raises(executor, req, InvalidRequest, "request_id must be 32 bytes")
    _raises(executor, make_request("hi", greedy=False, temperature=0.5, top_p=1.5), InvalidRequest, "top_p")
    req = make_request("hi")
    req.prompt = "changed after signing"
    _raises(executor, req, InvalidRequest, "prompt_hash does not match")
    both = make_request("hi", messages=(("user", "hello"),))
    _raises(executor, both, InvalidRequest, "either a prompt or chat messages")
