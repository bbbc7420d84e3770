"""A settler process for the kill tests: ticks (mining a block after each) until the queue is settled.

    python -m tests.settler.worker RPC_URL SETTLEMENT KEY REDIS_URL PREFIX COMMITTEE_KEYS_DIR [KILL_AT]

With KILL_AT (a crash-hook name) the process SIGKILLs itself the first time it reaches that point.
Exit 0 once every queued receipt is in a confirmed batch.
"""

from __future__ import annotations

import os
import signal
import sys

import redis
from ax0n_settler.chain import SettlementChain
from ax0n_settler.committee import LocalCommittee
from ax0n_settler.journal import Journal
from ax0n_settler.settler import Policy, Settler
from web3 import HTTPProvider, Web3

from ax0n.spec.params import DEVNET
from tests.settler.helpers import NoProof


def main() -> None:
    rpc, settlement, key, redis_url, prefix, keys_dir, *kill = sys.argv[1:]

    def hook(point: str, seq: int) -> None:
        if kill and point == kill[0]:
            os.kill(os.getpid(), signal.SIGKILL)

    w3 = Web3(HTTPProvider(rpc))
    journal = Journal(redis.Redis.from_url(redis_url), prefix)
    chain = SettlementChain(w3, settlement, key)
    committee = LocalCommittee.from_dir(keys_dir)
    settler = Settler(journal, chain, NoProof(), committee, DEVNET, Policy(confirmations=2), hook)
    for _ in range(200):
        settler.tick()
        w3.provider.make_request("anvil_mine", ["0x1"])
        if not journal.open_batches() and not journal.pending(1):
            return
    sys.exit("not settled after 200 ticks")


if __name__ == "__main__":
    main()
