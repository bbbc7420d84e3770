"""Journal guards: one chain and contract per journal, one writer at a time."""

from __future__ import annotations

import time

import pytest
import redis
from ax0n_settler.journal import Journal, JournalMismatch


def test_journal_refuses_another_chain_or_contract(journal: Journal) -> None:
    journal.bind(31337, "0x00000000000000000000000000000000000000aA", first_seq=1)
    journal.bind(31337, "0x00000000000000000000000000000000000000AA", first_seq=5)  # same contract, any case
    assert int(journal.r.get(f"{journal.p}:next_seq")) == 1  # first binding's sequence start is kept
    with pytest.raises(JournalMismatch):
        journal.bind(1, "0x00000000000000000000000000000000000000aa", first_seq=1)
    with pytest.raises(JournalMismatch):
        journal.bind(31337, "0x00000000000000000000000000000000000000bb", first_seq=1)


def test_single_writer_lease(journal: Journal, rclient: redis.Redis) -> None:
    other = Journal(rclient, journal.p)
    assert journal.hold_lease("a", 0.3)
    assert not other.hold_lease("b", 0.3)
    assert journal.hold_lease("a", 0.3)  # renewal
    time.sleep(0.4)
    assert other.hold_lease("b", 0.3)  # a stopped renewing: b takes over
    assert not journal.hold_lease("a", 0.3)
