"""Routing snapshots rebuilt from their sources: NodeRegistry at a block plus node stats over the window before it.

    builder = SnapshotBuilder(w3, manifest, redis_client, chain_id, stats_params)
    state, snapshot = await builder.build(block)

The state is `ax0n.chain.snapshot.read_state` at `block`; the stats are `ax0n.runtime.stats.StatsReader` over the
`window_ms` ending at the block's timestamp, with each node's uptime counted from its registration block's
timestamp. Both inputs are fixed once the block exists and the Redis clock has passed its timestamp, so the
router (which routes on the snapshot) and every validator (which recomputes it to check a route) get the same
snapshot hash. `rebuild_block` says which block a snapshot is due at; `Follower` builds each one as the chain
reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as redis
from web3 import Web3

from ax0n.chain.deploy import Manifest
from ax0n.chain.snapshot import ChainState, read_state, routing_snapshot
from ax0n.runtime.stats import DEFAULT, Registration, StatsParams, StatsReader
from ax0n.spec.routing import Snapshot

log = logging.getLogger(__name__)


def rebuild_block(head: int, interval: int) -> int:
    """The latest routing rebuild block at or below `head` (every `interval` blocks)."""
    return head - head % interval


class SnapshotBuilder:
    """Builds the routing snapshot at a block; caches registration timestamps (they never change)."""

    def __init__(
        self,
        w3: Web3,
        manifest: Manifest,
        client: redis.Redis,
        chain_id: int,
        params: StatsParams = DEFAULT,
    ) -> None:
        self.w3, self.manifest, self.params = w3, manifest, params
        self.reader = StatsReader(client, chain_id, params)
        self._block_ms: dict[int, int] = {}

    async def build(self, block: int) -> tuple[ChainState, Snapshot]:
        state = await asyncio.to_thread(read_state, self.w3, self.manifest, block)
        end_ms = state.timestamp * 1_000
        nodes = {n.node_id: Registration(n.signing_key, await self._timestamp_ms(n.registered_at)) for n in state.nodes}
        validators = {v.pubkey for v in state.validators}  # latency samples count only when one of them signed
        stats = await self.reader.read(nodes, end_ms - self.params.window_ms, end_ms, validators) if nodes else {}
        return state, routing_snapshot(state, stats)

    async def _timestamp_ms(self, block: int) -> int:
        if block not in self._block_ms:
            header = await asyncio.to_thread(self.w3.eth.get_block, block)
            self._block_ms[block] = int(header["timestamp"]) * 1_000
        return self._block_ms[block]


class Follower:
    """A service component that polls the chain head every `poll_s` and, when a rebuild block is due that
    `have(block)` says is not built yet, awaits `build(block)`; a failure (chain or Redis unreachable) is logged
    and retried at the next poll."""

    def __init__(
        self,
        w3: Web3,
        interval: int,
        have: Callable[[int], bool],
        build: Callable[[int], Awaitable[object]],
        *,
        poll_s: float = 1.0,
    ) -> None:
        self.w3, self.interval, self.have, self.build, self.poll_s = w3, interval, have, build, poll_s
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> bool:
        """One poll: build the due rebuild block if it is not built yet; True when it built one."""
        head = await asyncio.to_thread(lambda: self.w3.eth.block_number)
        block = rebuild_block(head, self.interval)
        if self.have(block):
            return False
        await self.build(block)
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception as exc:
                log.warning("routing snapshot rebuild failed (retrying): %s", exc)
            await asyncio.sleep(self.poll_s)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
