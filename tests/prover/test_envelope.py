import os

import pytest

from ax0n.zk import envelope
from ax0n.zk.artifacts import Artifacts
from ax0n.zk.mlp import QuantizedMLP


@pytest.fixture(scope="module")
def proved(mlp_artifacts: Artifacts, model: QuantizedMLP) -> tuple[bytes, list[int]]:
    inputs = model.circuit_inputs(list(range(-8, 8)))
    return mlp_artifacts.prove(inputs), mlp_artifacts.public_inputs(inputs)


def test_envelope_is_288_bytes_and_verifies(mlp_artifacts: Artifacts, proved: tuple[bytes, list[int]]) -> None:
    env, public = proved
    assert len(env) == 288
    assert mlp_artifacts.verify(env, public) == envelope.VALID


@pytest.mark.parametrize(
    "bad",
    [None, "x" * 288, b"", b"\0" * 287, b"\0" * 289, b"\xff" * 288, os.urandom(288), b"\0" * 288],
)
def test_malformed_envelopes_are_invalid_not_errors(mlp_artifacts: Artifacts, proved, bad: object) -> None:  # type: ignore[no-untyped-def]
    _, public = proved
    verdict = mlp_artifacts.verify(bad, public)
    assert not verdict and verdict.reason


def test_off_curve_point_with_correct_digest(mlp_artifacts: Artifacts, proved) -> None:  # type: ignore[no-untyped-def]
    env, public = proved
    bad = bytearray(env)
    bad[31] ^= 1  # A.y + 1: still a base-field element, no longer on the curve
    verdict = mlp_artifacts.verify(bytes(bad), public)
    assert not verdict and "malformed" in verdict.reason


@pytest.mark.parametrize(
    "public",
    [[], [1, 2], [1, 2, 3, 4], [1, 2, -1], [1, 2, 2**256], [1, 2, "3"], [1, 2, True]],
)
def test_malformed_public_inputs_are_invalid(mlp_artifacts: Artifacts, proved, public: list[object]) -> None:  # type: ignore[no-untyped-def]
    env, _ = proved
    assert not mlp_artifacts.verify(env, public)  # type: ignore[arg-type]


def test_digest_mismatch_is_reported(mlp_artifacts: Artifacts, proved) -> None:  # type: ignore[no-untyped-def]
    env, public = proved
    verdict = mlp_artifacts.verify(env[:256] + bytes(32), public)
    assert verdict.reason == "public-input digest does not match the public inputs"


def test_public_inputs_from_bytes() -> None:
    assert envelope.public_inputs_from_bytes([(7).to_bytes(32, "big")]) == ([7], envelope.VALID)
    values, verdict = envelope.public_inputs_from_bytes([b"\x01"])
    assert values is None and not verdict
