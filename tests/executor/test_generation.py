"""Deterministic generation: across processes, sampling from the request id, stop conditions, streaming."""

from __future__ import annotations

import copy
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from ax0n_executor.executor import Executor

from ax0n.llm.engine import Engine
from ax0n.llm.sampling import Decoding, uniform
from ax0n.llm.verify import verify
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from tests.executor.conftest import NODE_KEY, make_request

_CHILD = textwrap.dedent(
    """
    import struct, sys
    from ax0n.v1 import types_pb2
    from ax0n.llm.engine import Engine
    from ax0n_executor.executor import Executor
    executor = Executor({"tiny": Engine(sys.argv[1])}, sys.argv[2])
    data = sys.stdin.buffer.read()
    while data:
        (n,), data = struct.unpack(">I", data[:4]), data[4:]
        req, data = types_pb2.InferenceRequest.FromString(data[:n]), data[n:]
        receipt, output = executor.execute(req)
        out = types_pb2.ExecutedReceipt(receipt=receipt, request=req, output=output).SerializeToString()
        sys.stdout.buffer.write(struct.pack(">I", len(out)) + out)
    """
)


def _in_other_process(model_dir: Path, reqs: list[types_pb2.InferenceRequest]) -> list[types_pb2.ExecutedReceipt]:
    """Execute `reqs` in a fresh Python process (its own torch, its own model load)."""
    payload = b"".join(struct.pack(">I", len(b)) + b for b in (r.SerializeToString() for r in reqs))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model_dir), NODE_KEY], input=payload, capture_output=True, check=True
    ).stdout
    results = []
    while out:
        (n,), out = struct.unpack(">I", out[:4]), out[4:]
        results.append(types_pb2.ExecutedReceipt.FromString(out[:n]))
        out = out[n:]
    return results


def test_two_processes_agree_and_verify_each_other(tiny_dir: Path, executor: Executor, tiny: Engine) -> None:
    reqs = [
        make_request("Deterministic execution, twice.", max_tokens=70),
        make_request("Sampled, twice.", greedy=False, temperature=0.9, top_p=0.95, top_k=50, max_tokens=40),
    ]
    fresh = Engine(tiny_dir)
    for req, other in zip(reqs, _in_other_process(tiny_dir, reqs), strict=True):
        mine, output = executor.execute(req)
        assert list(other.receipt.output_token_ids) == list(mine.output_token_ids)
        assert other.output == output and other.receipt.output_hash == mine.output_hash
        theirs = verify(tiny, req, other.receipt, other.output)  # theirs against my re-execution
        assert theirs.valid, theirs.reason
        ours = verify(fresh, req, mine, output)  # mine against a freshly loaded engine
        assert ours.valid, ours.reason


def test_sampling_is_keyed_by_the_request_id(tiny: Engine) -> None:
    ids = tiny.encode("Sampling seed")
    d = Decoding(max_tokens=30, greedy=False, temperature=1.0)
    a = tiny.generate(ids, d, b"\x01" * 32).token_ids
    assert tiny.generate(ids, d, b"\x01" * 32).token_ids == a
    assert tiny.generate(ids, d, b"\x02" * 32).token_ids != a
    assert tiny.generate(ids, Decoding(max_tokens=30), b"\x01" * 32).token_ids != a
    u = [uniform(b"\x01" * 32, i) for i in range(2000)]
    assert all(0.0 <= x < 1.0 for x in u) and abs(float(np.mean(u)) - 0.5) < 0.03


def test_stop_conditions_and_streaming(tiny: Engine) -> None:
    ids = tiny.encode("Stop conditions")
    full = tiny.generate(ids, Decoding(max_tokens=60), b"")
    assert full.finish_reason == "length" and len(full.token_ids) == 60 and full.hidden.shape == (60, 320)
    # A stop string taken from the middle of the free-running output ends generation right before it.
    text = full.text.replace("\ufffd", "")
    stop = text[len(text) // 2 : len(text) // 2 + 2]
    cut = full.text.find(stop)
    deltas: list[str] = []
    stopped = tiny.generate(ids, Decoding(max_tokens=60, stop=(stop,)), b"", lambda i, d, t: deltas.append(d))
    assert stopped.finish_reason == "stop" and stopped.text == full.text[:cut]
    assert "".join(deltas) == stopped.text and stop not in "".join(deltas)
    # An end-of-sequence token stops generation and is the last token: declare one the model emits as EOS.
    assert tiny.tokenizer.eos_token_id in tiny.eos_ids
    eos = full.token_ids[7]
    pretend = copy.copy(tiny)
    pretend.eos_ids = frozenset({eos})
    ended = pretend.generate(ids, Decoding(max_tokens=60), b"")
    assert ended.finish_reason == "stop" and ended.token_ids == full.token_ids[: full.token_ids.index(eos) + 1]


def test_chat_template_and_batching(tiny: Engine, executor: Executor) -> None:
    req = make_request(messages=(("system", "Be brief."), ("user", "Hi")))
    ids = tiny.encode(messages=[("system", "Be brief."), ("user", "Hi")])
    assert tiny.decode(ids) == "system\nBe brief.\nuser\nHi\nassistant\n"
    assert tiny.tokenizer.convert_ids_to_tokens(ids[0]) == "<|im_start|>"
    reqs = [req, make_request("A longer prompt for the batch", nonce=2), make_request("x", nonce=3)]
    batched = executor.execute_batch(reqs)
    for r, (receipt, output) in zip(reqs, batched, strict=True):
        single, single_out = executor.execute(r)
        assert list(receipt.output_token_ids) == list(single.output_token_ids) and output == single_out
        assert receipt.reference.batch_size == 3
        receipts.verify(receipt)
        assert verify(tiny, r, receipt, output).valid
