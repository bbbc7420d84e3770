"""Admission on the session's Redis Cluster, where a client's reservations and nonces (one slot per client) and a
cluster stream (another slot) cannot share a script: two routers racing to spend one escrow admit exactly what it
covers, and a nonce is used once however the race goes (the honest path: tests/router/test_service.py, which runs
on the cluster too)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from ax0n_router import errors
from ax0n_router.admission import Admission, Limits, nonce_key, reservations_key
from ax0n_router.registry import FileRegistry
from ax0n_tools.devnet.cluster import RedisClusterServers
from eth_account import Account
from redis.crc import key_slot

from ax0n.mempool import Mempool
from ax0n.mempool.streams import requests_stream
from tests.router.conftest import KEY, TOKEN, make_request, registry_doc


async def test_two_routers_racing_for_one_escrow_admit_what_it_covers(
    redis_cluster: RedisClusterServers, tmp_path: Path
) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_doc()))  # KEY's escrow: 100 tokens
    pools = [Mempool.from_url(redis_cluster.url) for _ in range(2)]
    routers = [Admission(FileRegistry(path), pool, Limits(max_backlog=1_000)) for pool in pools]
    client = bytes.fromhex(Account.from_key(KEY).address[2:])
    for key in (reservations_key(client), requests_stream("alpha"), requests_stream("beta")):
        await pools[0].redis.delete(key)
    assert key_slot(reservations_key(client).encode()) == key_slot(nonce_key(client, 1).encode())
    assert key_slot(reservations_key(client).encode()) != key_slot(requests_stream("alpha").encode())

    # eight requests of 30 tokens, four through each router at once: three fit
    requests = [make_request(KEY, fee_cap=str(30 * TOKEN)) for _ in range(8)]
    # and the same signed request (one nonce) sent through both routers at once: admitted once at most
    replayed = make_request(KEY, fee_cap=str(TOKEN))

    async def admit(router: Admission, req) -> str | errors.Rejection:
        try:
            return await router.commit(req, await router.check(req))
        except errors.Rejection as exc:
            return exc

    try:
        outcomes = await asyncio.gather(
            *(admit(routers[i % 2], req) for i, req in enumerate(requests)),
            admit(routers[0], replayed),
            admit(routers[1], replayed),
        )
        spent, replay = outcomes[:8], outcomes[8:]
        admitted = [o for o in spent if isinstance(o, str)]
        refused = [o for o in spent if isinstance(o, errors.Rejection)]
        assert len(admitted) == 3 and len(refused) == 5 and all(r.http == 402 for r in refused)
        assert sorted(isinstance(o, str) for o in replay) == [False, True]  # once; the other copy is a replay
        assert next(o for o in replay if isinstance(o, errors.Rejection)).http == 409
        held = await pools[0].redis.hgetall(reservations_key(client))
        assert sum(int(v.split(b":")[0]) for k, v in held.items() if k != b"_v") == 91 * TOKEN
        assert (
            await pools[0].redis.xlen(requests_stream("alpha")) + await pools[0].redis.xlen(requests_stream("beta"))
            >= 4
        )  # every admitted request was appended
    finally:
        for pool in pools:
            await pool.close()


async def test_a_refused_append_frees_the_nonce_and_reservation(
    redis_cluster: RedisClusterServers, tmp_path: Path
) -> None:
    """The two-slot commit's undo: a 429 from the stream's slot leaves nothing held in the client's slot."""
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_doc()))
    pool = Mempool.from_url(redis_cluster.url)
    admission = Admission(FileRegistry(path), pool, Limits(max_backlog=2))
    client = bytes.fromhex(Account.from_key(KEY).address[2:])
    try:
        await pool.redis.delete(reservations_key(client), requests_stream("busy"))
        for i in range(2):
            await pool.redis.xadd(requests_stream("busy"), {"fill": str(i)})
        req = make_request(KEY, model_id="busy-model")
        with pytest.raises(errors.Rejection) as err:
            await admission.commit(req, await admission.check(req))
        assert err.value.http == 429
        assert not await pool.redis.exists(nonce_key(client, req.nonce))
        assert bytes(req.request_id) not in await pool.redis.hgetall(reservations_key(client))
        await pool.redis.delete(requests_stream("busy"))
        assert await admission.commit(req, await admission.check(req))  # the same signed request, once drained
    finally:
        await pool.close()
