"""Protocol parameters: one table, mirrored on-chain by ProtocolParams and changed only by governance.

Block-based periods count L1 blocks (12 s on mainnet). Fee rates are in basis points (1 bp = 0.01 %).
Token amounts are in the token's smallest unit (18 decimals).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

TOKEN = 10**18  # one ax0n, in its smallest unit
BPS = 10_000  # basis points in one


@dataclass(frozen=True, slots=True)
class Params:
    """The protocol parameter table. Units are in each field's name or comment."""

    min_node_stake: int = 10_000 * TOKEN  # stake an executor node must bond to register
    proof_generation_target_ms: int = 120  # target latency for a zk-tier proof
    slash_window: int = 50_400  # blocks after settlement during which a batch can be challenged (7 days)
    base_fee_rate_bps: int = 30  # 0.3 % of the fee cap, the minimum a request must offer
    operator_fee_share_bps: int = 7_800  # 78 % of each fee to the executor operator
    validator_fee_share_bps: int = 1_200  # 12 % to the request's validators; the rest (10 %) to treasury
    max_batch_size: int = 4_096  # receipts per settlement batch
    max_model_params: int = 70_000_000_000  # largest model the registry accepts
    validator_quorum_size: int = 256  # validators sampled per request
    settlement_frequency: int = 25  # blocks between settlement batches (5 minutes)
    node_epoch_length: int = 7_200  # blocks; stake unbonding delay and stats epoch (1 day)
    emission_rate_bps: int = 210  # 2.1 % a year on bonded stake, paid from NodeRegistry's funded reward pool
    governance_timelock_s: int = 7 * 24 * 3600  # delay between a passed proposal and its execution
    proof_constant_size: int = 288  # bytes: 256-byte ABI Groth16 proof + 32-byte public-input digest
    routing_rebuild_interval: int = 16  # blocks between routing-index rebuilds
    quorum_threshold_num: int = 2  # a certificate needs signed weight * den >= total * num
    quorum_threshold_den: int = 3

    @property
    def treasury_fee_share_bps(self) -> int:
        return BPS - self.operator_fee_share_bps - self.validator_fee_share_bps

    def replace(self, **changes: Any) -> Params:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


MAINNET = Params()

# The local devnet shortens block-based periods so a whole request-to-settlement cycle takes seconds.
DEVNET = MAINNET.replace(
    min_node_stake=1_000 * TOKEN,
    slash_window=40,
    settlement_frequency=5,
    node_epoch_length=10,
    validator_quorum_size=16,
    max_batch_size=16,
)

PROFILES: dict[str, Params] = {"mainnet": MAINNET, "devnet": DEVNET}


def has_quorum(signed_weight: int, total_weight: int, params: Params = MAINNET) -> bool:
    """True when `signed_weight` is at least 2/3 of `total_weight` (exact integer arithmetic)."""
    return total_weight > 0 and signed_weight * params.quorum_threshold_den >= (
        total_weight * params.quorum_threshold_num
    )
