"""SIGKILL a real settler process at every step of a batch's life; every receipt still settles exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil

from tests.settler.helpers import Deployment, enqueue, finalized, write_committee_keys
from tests.settler.test_exactly_once import CRASH_POINTS, assert_settled_once

ROOT = Path(__file__).resolve().parents[2]


def worker(anvil: Anvil, d: Deployment, redis_url: str, journal: Journal, keys: Path, *kill: str) -> int:
    args = [anvil.rpc_url, d.settlement, d.settler.key, redis_url, journal.p, str(keys), *kill]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.settler.worker", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr[-3000:]
    return proc.returncode


@pytest.mark.slow  # seven process starts: ~75 s on a loaded 2-core machine
def test_sigkill_at_every_step(
    anvil: Anvil, deployment: Deployment, journal: Journal, rclient: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    d = deployment
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(40)]
    enqueue(rclient, journal, finals)
    keys = write_committee_keys(d, tmp_path / "committee")
    killed = [point for point in CRASH_POINTS if worker(anvil, d, redis_url, journal, keys, point) == -signal.SIGKILL]
    assert killed == CRASH_POINTS  # every point was reached by some batch, and the process died there
    assert worker(anvil, d, redis_url, journal, keys) == 0
    assert_settled_once(d, journal, finals, batches=3)
    assert d.w3.eth.get_transaction_count(d.settler.address) == 3
