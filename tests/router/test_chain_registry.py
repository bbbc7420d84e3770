"""The router's registry lookups against a real deployment on anvil: ModelRegistry and Settlement escrow."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from ax0n_router import errors
from ax0n_router.admission import Admission, Limits
from ax0n_router.registry import ChainRegistry
from ax0n_tools.devnet.anvil import Anvil

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.mempool import Mempool
from ax0n.spec.params import DEVNET, TOKEN
from ax0n.spec.routing import Snapshot
from ax0n.v1 import types_pb2
from tests.router.conftest import make_request, registry_doc

PRICE = 10**15
DEPOSIT = 5 * PRICE


@pytest.fixture(scope="module")
def chain() -> Iterator[tuple[Anvil, Manifest]]:
    with Anvil() as anvil:
        model = ModelSpec(model_key("smollm2"), b"\xab" * 32, "llm", 135_000_000, b"\0" * 32, PRICE)
        manifest = deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET, models=(model,))
        client = anvil.accounts[1]
        token = manifest.contract(anvil.web3, "Ax0nToken")
        settlement = manifest.contract(anvil.web3, "Settlement")
        Signer.from_key(anvil.web3, anvil.accounts[0].key).transact(
            token.functions.transfer(client.address, 100 * TOKEN)
        )
        payer = Signer.from_key(anvil.web3, client.key)
        payer.transact(token.functions.approve(settlement.address, DEPOSIT))
        payer.transact(settlement.functions.deposit(DEPOSIT))
        yield anvil, manifest


def registry(chain: tuple[Anvil, Manifest]) -> ChainRegistry:
    anvil, manifest = chain
    snapshot = Snapshot.from_json(json.dumps(registry_doc()["snapshot"]))
    return ChainRegistry(anvil.web3, manifest, lambda: snapshot)


async def test_models_and_escrow_come_from_the_chain(chain: tuple[Anvil, Manifest]) -> None:
    reg = registry(chain)
    info = reg.model("smollm2")
    assert info is not None
    assert (info.price_per_1k_tokens, info.commitment, info.tier) == (str(PRICE), b"\xab" * 32, types_pb2.TIER_LLM)
    assert reg.model("unregistered") is None
    assert [m.model_id for m in reg.models()] == ["smollm2"]
    client = chain[0].accounts[1]
    assert await reg.escrow_balance(bytes.fromhex(client.address[2:])) == DEPOSIT
    assert await reg.escrow_balance(b"\x01" * 20) == 0


async def test_admission_reserves_against_onchain_escrow(chain: tuple[Anvil, Manifest], redis_url: str) -> None:
    pool = Mempool.from_url(redis_url)
    await pool.redis.flushall()
    admission = Admission(registry(chain), pool, Limits())
    key = chain[0].accounts[1].key
    try:
        for _ in range(DEPOSIT // (2 * PRICE)):  # two requests of 2·PRICE fit in 5·PRICE
            req = make_request(key, fee_cap=str(2 * PRICE))
            await admission.commit(req, await admission.check(req))
        req = make_request(key, fee_cap=str(2 * PRICE))
        with pytest.raises(errors.Rejection) as err:
            await admission.commit(req, await admission.check(req))
        assert (err.value.http, err.value.code.name) == (402, "FAILED_PRECONDITION")
        assert f"escrow {DEPOSIT} wei minus {4 * PRICE} reserved" in err.value.message
    finally:
        await pool.close()


async def test_escrow_on_its_way_out_is_not_counted(chain: tuple[Anvil, Manifest]) -> None:
    """A pending withdrawal request can complete before a request admitted now settles: it is not reservable."""
    anvil, manifest = chain
    other = anvil.accounts[2]
    token, settlement = manifest.contract(anvil.web3, "Ax0nToken"), manifest.contract(anvil.web3, "Settlement")
    Signer.from_key(anvil.web3, anvil.accounts[0].key).transact(token.functions.transfer(other.address, DEPOSIT))
    payer = Signer.from_key(anvil.web3, other.key)
    payer.transact(token.functions.approve(settlement.address, DEPOSIT))
    payer.transact(settlement.functions.deposit(DEPOSIT))
    payer.transact(settlement.functions.requestEscrowWithdrawal(DEPOSIT // 4))
    assert settlement.functions.escrow(other.address).call() == DEPOSIT  # still escrowed on-chain
    assert await registry(chain).escrow_balance(bytes.fromhex(other.address[2:])) == DEPOSIT - DEPOSIT // 4
