"""The fee rule (ax0n.spec.fees): the SDK's default fee cap is what the router's admission requires, and the Python
rule equals the contracts' (Fees.sol) on random vectors, prices past float precision included."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from ax0n_router import errors
from ax0n_router.admission import check_model_and_fee
from ax0n_tools.devnet.anvil import Anvil
from hypothesis import given, settings
from hypothesis import strategies as st

from ax0n.chain.deploy import ModelSpec, deploy, model_key
from ax0n.sdk import AsyncAx0nClient
from ax0n.spec import fees
from ax0n.spec.params import DEVNET, MAINNET
from ax0n.v1 import types_pb2

HARNESS = Path(__file__).resolve().parents[2] / "contracts" / "out" / "FeesHarness.sol" / "FeesHarness.json"
CLIENT_KEY = "0x" + "31" * 32
PRICES = st.one_of(st.sampled_from([0, 1, 999, 1000, 1001, 10**18, 10**18 + 1, 2**96 - 1]), st.integers(0, 2**120))
TOKENS = st.integers(1, 4_096)


class OneModel:
    """The registry admission reads: one registered, active model at `price`."""

    def __init__(self, price: int) -> None:
        self.info = types_pb2.ModelInfo(model_id="m", price_per_1k_tokens=str(price), active=True)

    def model(self, model_id: str) -> types_pb2.ModelInfo | None:
        return self.info if model_id == "m" else None


def test_base_fee_is_an_exact_integer_ceiling() -> None:
    assert fees.base_fee(10**18 + 1, 256) == 256_000_000_000_000_001  # float math.ceil loses the final 1
    assert fees.base_fee(10**18 + 1, 4_096) == 4_096_000_000_000_000_005
    assert (fees.base_fee(1001, 1), fees.base_fee(1000, 8), fees.base_fee(0, 9)) == (2, 8, 0)


async def sdk_signed(price: int, max_tokens: int) -> types_pb2.InferenceRequest:
    """The request the SDK signs with its default fee cap (the model's info cached: it never connects)."""
    client = AsyncAx0nClient("127.0.0.1:1", private_key=CLIENT_KEY)
    try:
        client._models = {"m": OneModel(price).info}
        return await client.sign("m", "hello", max_tokens=max_tokens)
    finally:
        await client.close()


@settings(max_examples=200, deadline=None)
@given(price=PRICES, max_tokens=TOKENS)
def test_the_sdks_default_fee_cap_is_what_admission_requires(price: int, max_tokens: int) -> None:
    req = asyncio.run(sdk_signed(price, max_tokens))
    assert int(req.fee_cap) == fees.base_fee(price, max_tokens)
    check_model_and_fee(req, OneModel(price))  # accepted as signed
    if int(req.fee_cap) > 0:
        req.fee_cap = str(int(req.fee_cap) - 1)  # one wei less is refused with 402
        with pytest.raises(errors.Rejection) as err:
            check_model_and_fee(req, OneModel(price))
        assert err.value.http == 402


@given(price=PRICES, tokens=st.integers(0, 8_192), cap=st.integers(0, 2**128))
def test_a_charge_never_exceeds_the_cap_and_pays_at_least_the_floor(price: int, tokens: int, cap: int) -> None:
    fee = fees.charge(price, tokens, cap, MAINNET)
    assert fee <= cap
    assert fee >= min(cap, cap * MAINNET.base_fee_rate_bps // 10_000)
    operator, validators, treasury = fees.split(fee, MAINNET)
    assert operator + validators + treasury == fee and min(operator, validators, treasury) >= 0


@pytest.fixture(scope="module")
def harness() -> Iterator[object]:
    if not HARNESS.exists():
        pytest.skip("contracts not built: `make contracts`")
    data = json.loads(HARNESS.read_text())
    with Anvil() as chain:
        w3 = chain.web3
        factory = w3.eth.contract(abi=data["abi"], bytecode=data["bytecode"]["object"])
        tx = factory.constructor().transact({"from": chain.accounts[0].address})
        address = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
        yield w3.eth.contract(address=address, abi=data["abi"])


def test_python_and_solidity_agree_on_random_vectors(harness) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(20261204)
    edges = [0, 1, 999, 1000, 1001, 10**18, 10**18 + 1, 2**96 - 1]
    for i in range(300):
        price = rng.choice(edges) if i % 3 == 0 else rng.randrange(2**100)
        tokens, cap = rng.randrange(1, 8_193), rng.choice([0, 1, rng.randrange(2**100)])
        params = rng.choice([MAINNET, DEVNET, MAINNET.replace(base_fee_rate_bps=rng.randrange(10_001))])
        rate = params.base_fee_rate_bps
        assert harness.functions.baseFee(price, tokens).call() == fees.base_fee(price, tokens)
        assert harness.functions.charge(price, tokens, cap, rate).call() == fees.charge(price, tokens, cap, params)
        split = harness.functions.split(cap, params.operator_fee_share_bps, params.validator_fee_share_bps).call()
        assert tuple(split) == fees.split(cap, params)


def test_the_deployed_model_registry_charges_by_the_same_rule() -> None:
    price = 10**18 + 1
    with Anvil() as chain:
        spec = ModelSpec(model_key("m"), b"\x01" * 32, "llm", 1, b"\0" * 32, price)
        manifest = deploy(chain.web3, chain.accounts[0].key, params=DEVNET, models=(spec,))
        registry = manifest.contract(chain.web3, "ModelRegistry")
        rng = random.Random(7)
        for tokens, cap in [(256, fees.base_fee(price, 256) - 1), (1, 10**30), (4_096, 0)] + [
            (rng.randrange(1, 8_193), rng.randrange(2**100)) for _ in range(20)
        ]:
            assert registry.functions.feeFor(model_key("m"), tokens, cap).call() == fees.charge(
                price, tokens, cap, DEVNET
            )
            assert registry.functions.baseFee(model_key("m"), tokens).call() == fees.base_fee(price, tokens)
