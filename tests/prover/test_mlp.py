"""The integer reference model and the circuit agree: outputs, commitment, bounds."""

import random

import pytest

from ax0n.spec import settlement
from ax0n.zk import batch
from ax0n.zk.mlp import MLPShape, Prediction, QuantizedMLP, input_hash, output_hash, parse_features
from ax0n.zk.witness import WitnessCalculator, WitnessError


def extreme_model(w: int, b: int) -> QuantizedMLP:
    shape = MLPShape()
    return QuantizedMLP(
        w1=tuple((w,) * shape.inputs for _ in range(shape.hidden)),
        b1=(b,) * shape.hidden,
        w2=tuple((w,) * shape.hidden for _ in range(shape.outputs)),
        b2=(b,) * shape.outputs,
    )


def test_reference_model_basics(model: QuantizedMLP) -> None:
    p = model.forward([0] * 16)
    assert p.label == max(range(10), key=lambda k: (p.logits[k], -k))
    assert Prediction.from_json(p.to_json()) == p
    assert parse_features("[1, -2, 3]") == [1, -2, 3]
    with pytest.raises(ValueError):
        model.forward([128] + [0] * 15)
    with pytest.raises(ValueError):
        model.forward([0] * 15)
    with pytest.raises(ValueError):
        parse_features('["a"]')
    assert QuantizedMLP.from_json(model.to_json()) == model


def test_requantization_floors_and_clamps() -> None:
    m = extreme_model(1, 0)
    assert m.hidden([-1] * 16) == [0] * 32  # ReLU
    m = extreme_model(127, 0)
    assert m.hidden([127] * 16) == [127] * 32  # saturates
    m = extreme_model(1, 5)
    assert m.hidden([16] * 16) == [(256 + 5) >> 8] * 32


def test_circuit_output_equals_reference_for_random_inputs(model: QuantizedMLP, mlp_witness: WitnessCalculator) -> None:
    """>= 100 random inputs: the circuit accepts exactly the reference model's output hash and commitment."""
    rng = random.Random(7)
    for _ in range(100):
        x = [rng.randint(-128, 127) for _ in range(16)]
        mlp_witness.check(model.circuit_inputs(x))


@pytest.mark.parametrize(
    ("w", "b", "x"), [(-128, -32768, 127), (-128, 32767, -128), (127, 32767, 127), (-128, -32768, -128)]
)
def test_circuit_matches_reference_at_the_bounds(w: int, b: int, x: int, mlp_witness: WitnessCalculator) -> None:
    m = extreme_model(w, b)
    mlp_witness.check(m.circuit_inputs([x] * 16))


def test_circuit_rejects_a_different_output(model: QuantizedMLP, mlp_witness: WitnessCalculator) -> None:
    x = list(range(16))
    true = model.forward(x)
    inputs = model.circuit_inputs(x)
    for wrong in (
        Prediction((true.label + 1) % 10, true.logits),
        Prediction(true.label, (true.logits[0] + 1, *true.logits[1:])),
    ):
        with pytest.raises(WitnessError):
            mlp_witness.check({**inputs, "outputHash": output_hash(wrong)})
    with pytest.raises(WitnessError):
        mlp_witness.check({**inputs, "inputHash": input_hash([1, *x[1:]])})


def test_circuit_commitment_equals_reference(model: QuantizedMLP, mlp_witness: WitnessCalculator) -> None:
    inputs = model.circuit_inputs([3] * 16)
    mlp_witness.check(inputs)
    with pytest.raises(WitnessError):
        mlp_witness.check({**inputs, "commitment": inputs["commitment"] + 1})  # type: ignore[operator]
    other = QuantizedMLP.from_seed(b"another model")
    with pytest.raises(WitnessError):
        mlp_witness.check({**inputs, "commitment": other.commitment()})


def test_out_of_range_weights_are_rejected_by_the_circuit(model: QuantizedMLP, mlp_witness: WitnessCalculator) -> None:
    inputs = model.circuit_inputs([0] * 16)
    w1 = [list(r) for r in inputs["w1"]]  # type: ignore[attr-defined]
    w1[0][0] = 300
    with pytest.raises(WitnessError):
        mlp_witness.check({**inputs, "w1": w1})


def test_full_witness_carries_public_inputs(model: QuantizedMLP, mlp_witness: WitnessCalculator) -> None:
    inputs = model.circuit_inputs([1] * 16)
    w = mlp_witness.compute(inputs)
    assert w[:4] == [1, inputs["commitment"], inputs["inputHash"], inputs["outputHash"]]


def test_fast_witness_readout_matches_the_per_wire_api(mlp_artifacts, batch_artifacts, model: QuantizedMLP) -> None:  # type: ignore[no-untyped-def]
    from tests.prover.test_proofs import random_leaves

    leaves = random_leaves(9, 4)
    cases = [
        (mlp_artifacts, model.circuit_inputs([-77] * 16)),
        (batch_artifacts, batch.circuit_inputs(leaves, 16, settlement.statement(2, leaves, 16))),
    ]
    for art, inputs in cases:
        calc = art.witness_calculator()
        assert calc._layout is not None  # recognised, so compute() takes the one-copy path
        assert calc.compute(inputs) == calc.compute(inputs, per_wire=True)
