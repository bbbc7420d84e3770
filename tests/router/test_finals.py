"""The router delivers only finals that are final (ax0n.spec.finality): a forged entry on ax0n:final — another
output under a genuine certificate, a certificate by keys that are not the request's quorum, an unsigned request, a
snapshot the router cannot read (the watcher keeps running) — never reaches the client, and the genuine final that follows for the same request id still does."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ax0n_router.mesh import FinalWatcher
from ax0n_router.registry import FileRegistry
from ax0n_router.server import final_check

from ax0n.mempool import Mempool
from ax0n.mempool.streams import FINAL
from ax0n.spec import bls
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from tests import quorum
from tests.router.conftest import (
    NODE_KEY,
    POOR_KEY,
    SNAPSHOT_BLOCK,
    SNAPSHOT_HASH,
    finalized,
    make_request,
    registry_doc,
)


def routed(req: types_pb2.InferenceRequest) -> types_pb2.InferenceRequest:
    req.route.CopyFrom(types_pb2.RouteDecision(request_id=req.request_id, snapshot_block=SNAPSHOT_BLOCK))
    return req


async def test_forged_finals_are_never_delivered_and_the_genuine_one_is(redis_url: str, tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(registry_doc()))
    pool = Mempool.from_url(redis_url)
    watcher = FinalWatcher(pool, final_check(FileRegistry(path), DEVNET_DEPLOYMENT, DEVNET))
    await watcher.start()
    try:
        req = routed(make_request())
        rid = bytes(req.request_id)
        genuine = finalized(req, "THE QUICK BROWN FOX")
        waiter = watcher.expect(rid)

        other_output = types_pb2.FinalizedReceipt()
        other_output.CopyFrom(genuine)
        other_output.output = "FORGED"
        other_output.receipt.output_hash = receipts.output_hash("FORGED")  # the certificate cites another receipt
        other_output.receipt.CopyFrom(receipts.sign(other_output.receipt, NODE_KEY))

        attacker_keys = [bls.keygen(bytes([0xA0 + i]) * 32) for i in range(7)]  # not the registered validators
        self_certified = finalized(req, "FORGED")
        self_certified.certificate.CopyFrom(
            quorum.certify(self_certified.receipt, SNAPSHOT_HASH, secrets=attacker_keys)
        )

        unsigned = finalized(req, "FORGED")
        unsigned.request.signature = routed(make_request(POOR_KEY)).signature  # not the client's signature

        unknown_snapshot = types_pb2.FinalizedReceipt()  # names a block whose validator set the router cannot read
        unknown_snapshot.CopyFrom(genuine)
        unknown_snapshot.receipt.route.snapshot_block = SNAPSHOT_BLOCK + 999
        unknown_snapshot.receipt.CopyFrom(receipts.sign(unknown_snapshot.receipt, NODE_KEY))
        unknown_snapshot.certificate.receipt_hash = receipts.receipt_hash(unknown_snapshot.receipt)

        for i, forged in enumerate((other_output, self_certified, unsigned, unknown_snapshot)):
            await pool.publish(FINAL, forged, key=f"forged-{i}")
        await asyncio.sleep(0.5)
        assert not waiter.done()  # none of them was delivered
        await pool.publish(FINAL, genuine, key=rid.hex())
        got = await asyncio.wait_for(waiter, 10)
        assert got.output == "THE QUICK BROWN FOX" and got.certificate == genuine.certificate
    finally:
        await watcher.stop()
        await pool.close()
