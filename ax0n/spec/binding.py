"""What a receipt's input and output hashes bind, per tier: the one rule executors, provers, validators and the SDK
check a receipt against its request and served output by.

- LLM tier: input hash = `request.prompt_hash(req)` (keccak256 of the canonical prompt, messages and sampling),
  output hash = keccak256 of the output text's UTF-8 bytes;
- zk tier: input hash = Poseidon of the request's int8 features (its prompt, a JSON array), output hash =
  Poseidon of the prediction (the served output, JSON): the zk-tier circuit's public inputs, beside the model
  commitment.
"""

from __future__ import annotations

from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.v1 import types_pb2
from ax0n.zk import mlp
from ax0n.zk.poseidon import to_bytes32


def zk_input_hash(prompt: str) -> bytes:
    """A zk-tier request's input hash; ValueError unless its prompt is a JSON array of int8 features."""
    return to_bytes32(mlp.input_hash(mlp.parse_features(prompt)))


def zk_output_hash(output: str) -> bytes:
    """A zk-tier output's hash; ValueError (or KeyError/TypeError) unless it is a prediction's JSON."""
    return to_bytes32(mlp.output_hash(mlp.Prediction.from_json(output)))


def io_hashes(req: types_pb2.InferenceRequest, output: str, tier: int) -> tuple[bytes, bytes]:
    """(input hash, output hash) a receipt of `tier` must carry for `req` and `output`."""
    if tier == types_pb2.TIER_ZK:
        return zk_input_hash(req.prompt), zk_output_hash(output)
    return requests.prompt_hash(req), receipts.output_hash(output)


def io_mismatch(receipt: types_pb2.Receipt, req: types_pb2.InferenceRequest, output: str) -> str:
    """Why the receipt's input/output hashes are not those of `req` and `output` ('' when they are)."""
    try:
        expected_in, expected_out = io_hashes(req, output, receipt.tier)
    except (ValueError, KeyError, TypeError) as exc:
        return f"malformed zk-tier input or output: {exc}"
    if bytes(receipt.input_hash) != expected_in:
        return "input hash is not the request's"
    if bytes(receipt.output_hash) != expected_out:
        return "output hash is not the served output"
    return ""
