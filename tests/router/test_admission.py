"""Admission's pure checks: exact base fee, chain id and deadline horizon."""

from __future__ import annotations

import time

import pytest
from ax0n_router import errors
from ax0n_router.admission import Limits, base_fee, check_deadline, check_static

from ax0n.v1 import types_pb2
from tests.router.conftest import make_request


def test_base_fee_is_an_exact_integer_ceiling() -> None:
    price = 10**18 + 1  # past float precision
    assert base_fee(types_pb2.ModelInfo(price_per_1k_tokens=str(price)), 4_096) == 4_096_000_000_000_000_005
    assert base_fee(types_pb2.ModelInfo(price_per_1k_tokens="1001"), 1) == 2
    assert base_fee(types_pb2.ModelInfo(price_per_1k_tokens="1000"), 8) == 8


def test_wrong_chain_and_far_deadline_are_invalid_argument() -> None:
    with pytest.raises(errors.Rejection) as err:
        check_static(make_request(chain_id=1), Limits())
    assert (err.value.code.name, err.value.http) == ("INVALID_ARGUMENT", 400)
    assert "chain 1" in err.value.message
    far = make_request(deadline=int(time.time()) + 7_200)
    with pytest.raises(errors.Rejection) as err:
        check_deadline(far, time.time(), Limits(max_deadline_horizon_s=3_600))
    assert (err.value.code.name, err.value.http) == ("INVALID_ARGUMENT", 400)
