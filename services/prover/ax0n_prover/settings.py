"""Prover settings: AX0N_* environment variables and flags on top of the shared service settings."""

from __future__ import annotations

import os

from pydantic import Field

from ax0n.mempool.streams import FAULTS
from ax0n.runtime.config import ServiceSettings


class ProverSettings(ServiceSettings):
    zk_models: list[str] = Field(
        default_factory=list, description="JSON weight files of extra zk-tier models (the devnet model is built in)"
    )
    prove_concurrency: int = Field(os.cpu_count() or 1, description="receipts proven at once (bounded by the cores)")
    faults_stream: str = Field(
        FAULTS, description="stream for fault evidence (zk-tier receipts signed with a wrong output)"
    )
