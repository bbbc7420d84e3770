"""Admission's pure checks: chain id and deadline horizon (the fee rule: tests/spec/test_fees.py)."""

from __future__ import annotations

import time

import pytest
from ax0n_router import errors
from ax0n_router.admission import Limits, check_deadline, check_static

from tests.router.conftest import make_request


def test_wrong_chain_and_far_deadline_are_invalid_argument() -> None:
    with pytest.raises(errors.Rejection) as err:
        check_static(make_request(chain_id=1), Limits())
    assert (err.value.code.name, err.value.http) == ("INVALID_ARGUMENT", 400)
    assert "chain 1" in err.value.message
    far = make_request(deadline=int(time.time()) + 7_200)
    with pytest.raises(errors.Rejection) as err:
        check_deadline(far, time.time(), Limits(max_deadline_horizon_s=3_600))
    assert (err.value.code.name, err.value.http) == ("INVALID_ARGUMENT", 400)
