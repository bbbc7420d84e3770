"""The router's routing snapshots, rebuilt from the chain and the stats streams every `interval` blocks."""

from __future__ import annotations

import logging

from web3 import Web3

from ax0n.runtime.snapshots import Follower, SnapshotBuilder
from ax0n.spec.routing import Snapshot
from ax0n_router import errors

log = logging.getLogger(__name__)


class SnapshotRefresher(Follower):
    """Keeps the latest routing snapshot: when a rebuild block (a multiple of `interval`) newer than the current
    snapshot exists, builds that block's snapshot (`ax0n.runtime.snapshots`) and swaps it in. Until the first build the
    router refuses requests with UNAVAILABLE; a failed build keeps the last snapshot and is retried."""

    def __init__(self, builder: SnapshotBuilder, w3: Web3, interval: int, *, poll_s: float = 1.0) -> None:
        super().__init__(w3, interval, self._have, self._build, poll_s=poll_s)
        self.builder = builder
        self._snapshot: Snapshot | None = None

    def snapshot(self) -> Snapshot:
        if self._snapshot is None:
            raise errors.unavailable("no routing snapshot built yet (the router reads NodeRegistry and node stats)")
        return self._snapshot

    def _have(self, block: int) -> bool:
        return self._snapshot is not None and block <= self._snapshot.block

    async def _build(self, block: int) -> None:
        _, snapshot = await self.builder.build(block)
        self._snapshot = snapshot
        log.info("routing snapshot at block %d: %d nodes, hash %s", block, len(snapshot.nodes), snapshot.hash().hex())
