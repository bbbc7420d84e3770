"""The zk tier: run ProofCore's quantized MLP bit-exactly and sign its receipt (the prover proves it later)."""

from __future__ import annotations

from ax0n.llm.errors import InvalidRequest
from ax0n.spec import binding, fees
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import ZK_TOKENS
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2
from ax0n.zk import mlp
from ax0n.zk.models import Mode, ZkModel

ZkServed = mlp.QuantizedMLP | ZkModel  # private-weight mode needs only the weights; public-weight mode its key too


def load(spec: str) -> ZkServed:
    """`devnet` (ProofCore's seeded devnet model) or the path of a QuantizedMLP JSON weight file, in private-weight
    mode; `public:devnet` or `public:FILE.json` in public-weight mode, whose commitment binds the model's verifying
    key: that key is read from ProofCore's artifacts (never set up here, or the commitment would not be the
    registered one)."""
    source = spec.removeprefix("public:")
    weights = mlp.devnet_model() if source == "devnet" else mlp.QuantizedMLP.load(source)
    if source == spec:
        return weights
    return ZkModel.load(weights, Mode.PUBLIC_WEIGHTS, build=False)


def parse_models(spec: str) -> dict[str, ZkServed]:
    """`id=[public:]devnet|FILE.json,...` → {id: model}; raises ValueError naming the bad entry."""
    out: dict[str, ZkServed] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        model_id, sep, source = item.partition("=")
        if not (sep and model_id and source):
            raise ValueError(
                f"bad zk model entry {item!r}: expected MODEL_ID=[public:]devnet or MODEL_ID=[public:]FILE.json"
            )
        out[model_id] = load(source)
    return out


def execute(
    model: ZkServed,
    req: types_pb2.InferenceRequest,
    price_per_1k: int,
    node_key: bytes | str,
    params: Params = MAINNET,
) -> tuple[types_pb2.Receipt, str]:
    """The signed receipt and JSON prediction of `model` on the request's features (a JSON int8 array)."""
    if req.messages:
        raise InvalidRequest("a zk-tier request carries a JSON array of int8 features as its prompt, not messages")
    try:
        x = mlp.parse_features(req.prompt)
        model.check_input(x)
    except ValueError as exc:
        raise InvalidRequest(f"bad zk-tier input: {exc}") from exc
    prediction = model.forward(x)
    output = prediction.to_json()
    r = types_pb2.Receipt(
        request_id=req.request_id,
        model_id=req.model_id,
        model_commitment=model.commitment_bytes(),
        tier=types_pb2.TIER_ZK,
        input_hash=binding.zk_input_hash(req.prompt),
        output_hash=binding.zk_output_hash(output),
        route=req.route,
        timings=types_pb2.Timings(output_tokens=ZK_TOKENS),
        fee=str(fees.charge(price_per_1k, ZK_TOKENS, fees.amount(req.fee_cap, "fee_cap"), params)),
        client=req.client,
        fee_cap=req.fee_cap,
        chain_id=req.chain_id,
        settlement=req.settlement,
    )
    return receipts.sign(r, node_key), output
