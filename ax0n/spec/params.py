"""Protocol parameters: one table, mirrored on-chain by ProtocolParams and changed only by governance.

Block-based periods count L1 blocks (12 s on mainnet). Fee and slashing rates are in basis points (1 bp =
0.01 %). Token amounts are in the token's smallest unit (18 decimals). `MAINNET` holds the values of the
product's published parameter table.

Invariants (`Params.violations`; ProtocolParams refuses the same on-chain, so governance cannot set a table
that breaks them):
- a batch can be challenged for `slash_window` blocks after it settles, and a receipt settles within
  `settlement_frequency` blocks, so unbonding (`node_epoch_length` blocks) must outlast both: stake cannot
  leave before every receipt it signed is past its challenge window;
- fee shares sum to at most the whole; every rate is at most 100 %; periods and sizes are positive;
- a certificate needs at least 2/3 of the weight (the BFT bound) and never more than all of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

TOKEN = 10**18  # one ax0n, in its smallest unit
BPS = 10_000  # basis points in one

# Fault classes and the parameter holding each one's slash, in bps of the offender's bonded + unbonding stake.
SLASH_RATIOS = {
    "zk_output": "slash_zk_output_bps",  # signed a zk-tier output the committed model does not compute
    "equivocation": "slash_equivocation_bps",  # signed two different receipts for one request
    "quorum_fault": "slash_quorum_fault_bps",  # a validator supermajority certified its receipt INVALID
    "unauthorized_debit": "slash_unauthorized_debit_bps",  # signed a batch debiting a client who never signed
}


@dataclass(frozen=True, slots=True)
class Params:
    """The protocol parameter table. Units are in each field's name or comment."""

    min_node_stake: int = 1_000 * TOKEN  # stake an executor node must bond to register
    proof_generation_target_ms: int = 120  # target latency for a zk-tier proof
    slash_window: int = 256  # blocks after a batch settles during which it can be challenged
    base_fee_rate_bps: int = 30  # 0.3 %: every inference pays at least this share of its signed fee cap
    operator_fee_share_bps: int = 7_800  # 78 % of each fee to the executor operator
    validator_fee_share_bps: int = 1_200  # 12 % to the validators; the rest (10 %) to the treasury
    max_batch_size: int = 4_096  # receipts per settlement batch
    max_model_params: int = 70_000_000_000  # largest model the registry accepts
    validator_quorum_size: int = 256  # validators sampled per request
    settlement_frequency: int = 512  # blocks between settlement rounds
    node_epoch_length: int = 2_048  # blocks; stake unbonding delay
    emission_rate_bps: int = 210  # 2.1 % a year on bonded stake, paid from NodeRegistry's funded reward pool
    governance_timelock_s: int = 7 * 24 * 3600  # delay between a passed proposal and its execution
    proof_constant_size: int = 288  # bytes: 256-byte ABI Groth16 proof + 32-byte public-input digest
    routing_rebuild_interval: int = 16  # blocks between routing-index rebuilds
    quorum_threshold_num: int = 2  # a certificate needs signed weight * den >= total * num
    quorum_threshold_den: int = 3
    # LLM tier: seats of a request's quorum that re-execute it, and the fresh seats a dispute escalates to
    reexecution_seats: int = 5
    dispute_seats: int = 151
    # NeuralRoute's scoring weights (ax0n.spec.routing): governable, read from ProtocolParams at each snapshot
    routing_weight_stake: int = 2
    routing_weight_uptime: int = 5
    routing_weight_latency: int = 3
    routing_latency_ref_ms: int = 2_000  # p95 at which the latency score is one half
    routing_min_uptime_bps: int = 5_000  # nodes observed live less often than this are not routed to
    # slashing ratios per fault class (SLASH_RATIOS), and the challenger's share of each slash
    slash_zk_output_bps: int = 5_000
    slash_equivocation_bps: int = 10_000
    slash_quorum_fault_bps: int = 1_000
    slash_unauthorized_debit_bps: int = 10_000
    challenger_reward_bps: int = 5_000  # the challenger's share; the rest goes to the treasury

    def __post_init__(self) -> None:
        problems = self.violations()
        if problems:
            raise ValueError("invalid protocol parameters: " + "; ".join(problems))

    def violations(self) -> list[str]:
        """Every invariant of the table this instance breaks (empty when it is consistent)."""
        return violations(self.as_dict())

    @property
    def treasury_fee_share_bps(self) -> int:
        return BPS - self.operator_fee_share_bps - self.validator_fee_share_bps

    def slash_amount(self, fault: str, at_risk: int) -> tuple[int, int]:
        """(slashed, challenger's reward) for fault class `fault` (a key of SLASH_RATIOS) of an offender with
        `at_risk` = bonded + unbonding stake, as Settlement computes them."""
        slashed = at_risk * getattr(self, SLASH_RATIOS[fault]) // BPS
        return slashed, slashed * self.challenger_reward_bps // BPS

    def replace(self, **changes: Any) -> Params:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


RATES_BPS = (
    "base_fee_rate_bps",
    "emission_rate_bps",
    "routing_min_uptime_bps",
    "challenger_reward_bps",
    *SLASH_RATIOS.values(),
)
POSITIVE = (
    "slash_window",
    "max_batch_size",
    "validator_quorum_size",
    "settlement_frequency",
    "routing_latency_ref_ms",
    "routing_rebuild_interval",
    "reexecution_seats",
)


def violations(values: dict[str, int]) -> list[str]:
    """The invariants a parameter table (name -> value) breaks; ProtocolParams checks the same on-chain."""
    v = values
    out = []
    if v["node_epoch_length"] < v["settlement_frequency"] + v["slash_window"]:
        out.append(
            f"node_epoch_length {v['node_epoch_length']} < settlement_frequency {v['settlement_frequency']} + "
            f"slash_window {v['slash_window']}: stake could leave before its receipts' challenge window ends"
        )
    if v["operator_fee_share_bps"] + v["validator_fee_share_bps"] > BPS:
        out.append("operator and validator fee shares exceed 100 %")
    out += [f"{name} {v[name]} exceeds {BPS} bps" for name in RATES_BPS if v[name] > BPS]
    out += [f"{name} must be positive" for name in POSITIVE if v[name] <= 0]
    if v["routing_weight_stake"] + v["routing_weight_uptime"] + v["routing_weight_latency"] <= 0:
        out.append("the routing weights must not all be zero")
    num, den = v["quorum_threshold_num"], v["quorum_threshold_den"]
    if not (den > 0 and 2 * den <= 3 * num <= 3 * den):
        out.append(f"quorum threshold {num}/{den} must be between 2/3 and 1")
    if v["reexecution_seats"] + v["dispute_seats"] > v["validator_quorum_size"]:
        out.append("reexecution_seats + dispute_seats exceed validator_quorum_size: the seats are the quorum's")
    out += [f"{name} is negative" for name, value in v.items() if value < 0]
    return out


MAINNET = Params()

# The local devnet: short periods (blocks every second) so a request settles within seconds, held to the same
# invariants: unbonding lasts exactly a settlement round plus the challenge window.
_DEVNET_FREQUENCY, _DEVNET_SLASH_WINDOW = 5, 40
DEVNET = MAINNET.replace(
    slash_window=_DEVNET_SLASH_WINDOW,
    settlement_frequency=_DEVNET_FREQUENCY,
    node_epoch_length=_DEVNET_FREQUENCY + _DEVNET_SLASH_WINDOW,
    validator_quorum_size=16,
    dispute_seats=11,
    max_batch_size=16,
)

PROFILES: dict[str, Params] = {"mainnet": MAINNET, "devnet": DEVNET}


def has_quorum(signed_weight: int, total_weight: int, params: Params = MAINNET) -> bool:
    """True when `signed_weight` is at least 2/3 of `total_weight` (exact integer arithmetic)."""
    return total_weight > 0 and signed_weight * params.quorum_threshold_den >= (
        total_weight * params.quorum_threshold_num
    )
