"""Settler settings (AX0N_* environment variables or flags; `ax0n-settler --help`)."""

from __future__ import annotations

from pydantic import Field

from ax0n.runtime.config import ServiceSettings
from ax0n_settler.challenges import FAULTS
from ax0n_settler.journal import DEFAULT_PREFIX
from ax0n_settler.settler import Policy

_P = Policy()


class SettlerSettings(ServiceSettings):
    rpc_url: str = Field("", description="Ethereum JSON-RPC URL (empty: take receipts in, settle nothing)")
    settlement_address: str = Field("", description="Settlement contract address")
    settler_key_file: str = Field("", description="file holding the settlement account's private key (hex)")
    validator_targets: str = Field(
        "",
        description="comma-separated validator gRPC addresses: SignBatch certifies each batch, SignFault each quorum fault",
    )
    committee_keys_dir: str = Field(
        "", description="tests only, instead of validator_targets: <validator address>.key BLS keys signing unchecked"
    )
    journal_prefix: str = Field(DEFAULT_PREFIX, description="Redis key prefix of the batch journal")
    confirmations: int = Field(
        _P.confirmations, description="blocks (counting the settling one) before a batch is confirmed"
    )
    bump_after_s: float = Field(
        _P.bump_after_s, description="replace a submitBatch transaction unmined after this long"
    )
    reorg_horizon: int = Field(_P.reorg_horizon, description="blocks a confirmed batch is watched for reorgs")
    tick_s: float = Field(2.0, description="seconds between settlement passes")
    lease_s: float = Field(30.0, description="single-writer lease; a standby instance takes over after this")
    faults_stream: str = Field(FAULTS, description="fault evidence the challenge watcher reads (needs rpc_url)")
    challenge_retry_s: float = Field(10.0, description="retry a fault record whose challenge failed after this long")
    challenge_max_attempts: int = Field(
        360, description="deliveries of one fault record before it is dead-lettered (transport errors)"
    )

    def policy(self) -> Policy:
        return Policy(
            confirmations=self.confirmations, bump_after_s=self.bump_after_s, reorg_horizon=self.reorg_horizon
        )
