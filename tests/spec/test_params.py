"""The parameter table: MAINNET is the product's published table, both profiles keep the invariants, and
ProtocolParams refuses on-chain exactly the tables ax0n.spec.params refuses."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from ax0n_tools.devnet.anvil import Anvil
from web3.exceptions import ContractCustomError, ContractLogicError

from ax0n.chain.deploy import ONCHAIN_PARAMS, param_name
from ax0n.spec.params import DEVNET, MAINNET, SLASH_RATIOS, TOKEN, Params, violations

ARTIFACT = Path(__file__).resolve().parents[2] / "ax0n" / "chain" / "artifacts" / "ProtocolParams.json"

# The product README's parameter table, as published (its governable and slashing entries follow below).
README_TABLE = {
    "min_node_stake": 1_000 * TOKEN,
    "proof_generation_target_ms": 120,
    "slash_window": 256,
    "base_fee_rate_bps": 30,  # 0.3 % / inference
    "operator_fee_share_bps": 7_800,  # 78 %
    "max_batch_size": 4_096,
    "max_model_params": 70_000_000_000,
    "validator_quorum_size": 256,
    "settlement_frequency": 512,
    "node_epoch_length": 2_048,
    "governance_timelock_s": 7 * 24 * 3600,
    "proof_constant_size": 288,
}


def test_mainnet_is_the_published_table() -> None:
    assert {k: getattr(MAINNET, k) for k in README_TABLE} == README_TABLE
    assert (MAINNET.validator_fee_share_bps, MAINNET.treasury_fee_share_bps) == (1_200, 1_000)  # 78 / 12 / 10
    assert MAINNET.emission_rate_bps == 210  # 2.1 % APY


@pytest.mark.parametrize("params", [MAINNET, DEVNET], ids=["mainnet", "devnet"])
def test_both_profiles_keep_the_invariants(params: Params) -> None:
    assert params.violations() == []
    assert params.node_epoch_length >= params.settlement_frequency + params.slash_window


def test_the_devnet_unbonds_in_exactly_one_settlement_round_plus_the_challenge_window() -> None:
    assert DEVNET.node_epoch_length == DEVNET.settlement_frequency + DEVNET.slash_window


def test_an_inconsistent_table_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="stake could leave before"):
        MAINNET.replace(slash_window=MAINNET.node_epoch_length)
    with pytest.raises(ValueError, match="fee shares exceed"):
        MAINNET.replace(validator_fee_share_bps=2_300)
    with pytest.raises(ValueError, match="between 2/3 and 1"):
        MAINNET.replace(quorum_threshold_num=1, quorum_threshold_den=2)


def test_each_fault_class_slashes_its_ratio_and_pays_the_challenger_its_share() -> None:
    stake = 3_000 * TOKEN
    for fault, name in SLASH_RATIOS.items():
        slashed, reward = MAINNET.slash_amount(fault, stake)
        assert slashed == stake * getattr(MAINNET, name) // 10_000
        assert reward == slashed * MAINNET.challenger_reward_bps // 10_000
    assert MAINNET.slash_amount("equivocation", stake)[0] == stake  # provable malice takes everything
    assert MAINNET.slash_amount("quorum_fault", stake)[0] < stake  # a tolerance-based verdict takes a portion


def _random_table(rng: random.Random) -> dict[str, int]:
    """MAINNET's on-chain entries with a few pushed toward (or past) an invariant's edge."""
    table = {n: getattr(MAINNET, n) for n in ONCHAIN_PARAMS}
    for name in rng.sample(ONCHAIN_PARAMS, rng.randrange(1, 4)):
        table[name] = rng.choice([0, 1, 9_999, 10_000, 10_001, table[name] // 2, table[name] * 2 + 1])
    if rng.random() < 0.3:  # the unbonding invariant's edge
        table["node_epoch_length"] = table["settlement_frequency"] + table["slash_window"] - rng.choice([0, 1])
    return table


def test_protocol_params_refuses_on_chain_what_the_spec_refuses() -> None:
    if not ARTIFACT.exists():
        pytest.skip("contracts not built: `make contracts`")
    data = json.loads(ARTIFACT.read_text())
    offchain = {k: v for k, v in MAINNET.as_dict().items() if k not in ONCHAIN_PARAMS}
    rng = random.Random(20261204)
    with Anvil() as chain:
        factory = chain.web3.eth.contract(abi=data["abi"], bytecode=data["bytecode"]["object"])
        owner = chain.accounts[0].address
        verdicts = {True: 0, False: 0}
        for _ in range(80):
            table = _random_table(rng)
            valid = not violations({**offchain, **table})
            names = [param_name(n) for n in table]
            try:
                factory.constructor(owner, names, list(table.values())).estimate_gas({"from": owner})
                accepted = True
            except (ContractCustomError, ContractLogicError):
                accepted = False
            assert accepted == valid, table
            verdicts[valid] += 1
        assert min(verdicts.values()) >= 10  # both verdicts were exercised
