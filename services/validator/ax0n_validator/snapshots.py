"""Registry snapshots rebuilt from the chain and the stats streams, exactly as the router builds its own.

A route names its snapshot block and hash; this validator rebuilds that block's snapshot itself
(`ax0n.runtime.snapshots`: NodeRegistry at the block, node stats over the window before it) and the route check compares
hashes, so a router cannot route on a snapshot the validators do not compute.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, TypeVar

import redis.asyncio as redis
from web3 import Web3

from ax0n.chain.deploy import Manifest
from ax0n.mempool import connect
from ax0n.runtime.snapshots import Follower, SnapshotBuilder
from ax0n.runtime.stats import StatsParams
from ax0n_validator.registry import RegistrySnapshot, SnapshotSource, from_chain

log = logging.getLogger(__name__)
T = TypeVar("T")


class ChainSnapshots(SnapshotSource):
    """Snapshots by block, built from the chain. As a service component it builds each rebuild block as the chain
    reaches it (`ax0n.runtime.snapshots.Follower`, as the router does, so a receipt's snapshot is normally ready when the
    receipt arrives); a block not built yet (a restart, a late validator) is built on first use, blocking that
    call for the build (a few chain calls and one stats read). Blocks that are not rebuild blocks, or not mined
    yet, have none."""

    def __init__(
        self,
        rpc_url: str,
        manifest: Manifest,
        redis_url: str,
        chain_id: int,
        params: StatsParams,
        interval: int,
        *,
        keep: int = 64,
        poll_s: float = 1.0,
    ) -> None:
        self.rpc_url, self.manifest, self.redis_url = rpc_url, manifest, redis_url
        self.chain_id, self.params, self.interval, self.keep = chain_id, params, interval, keep
        self.w3 = Web3(Web3.HTTPProvider(rpc_url))
        self._built: OrderedDict[int, RegistrySnapshot] = OrderedDict()
        self._lock = threading.Lock()
        self._client = connect(redis_url)  # the service loop's; on-demand builds open their own
        follow = self._builder(self._client)
        self.follower = Follower(self.w3, interval, self._have, lambda block: self._build(follow, block), poll_s=poll_s)

    def _builder(self, client: redis.Redis) -> SnapshotBuilder:
        return SnapshotBuilder(Web3(Web3.HTTPProvider(self.rpc_url)), self.manifest, client, self.chain_id, self.params)

    def _have(self, block: int) -> bool:
        with self._lock:
            return block in self._built

    async def _build(self, builder: SnapshotBuilder, block: int) -> RegistrySnapshot:
        state, snapshot = await builder.build(block)
        built = from_chain(state, snapshot)
        with self._lock:
            self._built[block] = built
            self._built.move_to_end(block)
            while len(self._built) > self.keep:
                self._built.popitem(last=False)
        return built

    def get(self, block: int) -> RegistrySnapshot | None:
        with self._lock:
            if block in self._built:
                return self._built[block]
        if block % self.interval or block > self.w3.eth.block_number:
            return None
        log.info("building the snapshot of block %d on demand", block)
        return _run_in_thread(self._build_once(block))

    async def _build_once(self, block: int) -> RegistrySnapshot:
        client = connect(self.redis_url)
        try:
            return await self._build(self._builder(client), block)
        finally:
            await client.aclose()

    async def start(self) -> None:
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()
        await self._client.aclose()


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on a fresh event loop in another thread (callers here are synchronous); its
    exception is re-raised here, so a build that fails (chain or Redis unreachable) fails the check that needed
    it, and the receipt is retried, rather than reading as "no snapshot"."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ax0n-snapshot-build") as pool:
        return pool.submit(asyncio.run, coro).result()
