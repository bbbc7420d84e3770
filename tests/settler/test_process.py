"""The ax0n-settler process end to end: ax0n:final → real batch proof → submitBatch on anvil → GetSettlement."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from ax0n_settler.chain import abi
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil
from ax0n_tools.devnet.services import ServiceProcess

from ax0n.mempool import Mempool, streams
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import BatchPlan, tree_size, verify_inclusion
from ax0n.v1 import settler_pb2, settler_pb2_grpc
from ax0n.zk import artifacts
from tests.settler.helpers import Deployment, finalized, write_committee_keys


@pytest.mark.slow  # a service start and a real batch proof: ~1 min on a loaded 2-core machine
async def test_settler_process_settles_and_answers(
    anvil: Anvil, deployment: Deployment, journal: Journal, redis_url: str, tmp_path: Path
) -> None:
    d = deployment
    key_file = tmp_path / "settler.key"
    key_file.write_text(d.settler.key)
    finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(6)]
    pool = Mempool.from_url(redis_url)
    for f in finals:
        await pool.publish(streams.FINAL, f, key=f.receipt.request_id.hex())
    await pool.close()
    # the process takes a real batch proof under ProofCore's circuit; the test deployment's verifier accepts any
    service = ServiceProcess(
        "settler",
        redis_url,
        "--profile", "devnet",
        "--rpc-url", anvil.rpc_url,
        "--settlement-address", d.settlement,
        "--settler-key-file", str(key_file),
        "--journal-prefix", journal.p,
        "--committee-keys-dir", str(write_committee_keys(d, tmp_path / "committee")),
        "--confirmations", "1",
        "--tick-s", "0.2",
    ).start()  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(service.target) as channel:
            stub = settler_pb2_grpc.SettlerStub(channel)
            deadline = time.monotonic() + 180
            while True:
                try:
                    s = await stub.GetSettlement(
                        settler_pb2.GetSettlementRequest(request_id=finals[-1].receipt.request_id)
                    )
                    if s.state == "confirmed":
                        break
                except grpc.aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.NOT_FOUND
                assert time.monotonic() < deadline, "".join(service.output)
                anvil.mine()
                time.sleep(0.5)
    finally:
        assert service.terminate() == 0, "".join(service.output)
    contract = d.w3.eth.contract(d.settlement, abi=abi("Settlement"))
    assert contract.functions.lastBatchId().call() == 1
    root = int.from_bytes(contract.functions.batches(1).call()[0], "big")
    assert int.from_bytes(s.batch_root, "big") == root and s.batch_id == (1).to_bytes(32, "big")
    leaf = journal.get(1).leaves[s.leaf_index]
    assert verify_inclusion(leaf, s.leaf_index, [int.from_bytes(h, "big") for h in s.merkle_path], root)
    plan = BatchPlan(1, tuple(journal.get(1).leaves), tree_size(DEVNET.max_batch_size), DEVNET)
    batch16 = artifacts.load(artifacts.BATCH16, build=False)
    public = [int.from_bytes(v, "big") for v in s.batch_proof.public_inputs]
    assert public == plan.statement.public_inputs() and s.batch_proof.circuit_id == "batch16"
    assert batch16.verify(s.batch_proof.envelope, public)  # the process proved for real
