"""A node fabricates a receipt that debits a client who never asked (issue: fabricated receipts), on the real
devnet: the node's registered key signs a zk-tier receipt naming a victim with escrow, fee = fee cap = the whole
escrow, for a request the victim never signed, and appends it to the mempool both before proving (`ax0n:exec`)
and, with a real proof of the true output, after (`ax0n:proved`). Nothing certifies, batches or settles it; the
victim's escrow is unchanged on-chain, an honest request settles, and the node pays for the forgery: the quorum
certifies its receipt INVALID and the settler slashes it (Settlement.challengeQuorumFault). Its own devnet: the
slash takes the only executor node out of the routing set."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from ax0n_tools.devnet import demo
from ax0n_tools.devnet.anvil import dev_account
from ax0n_tools.devnet.network import Devnet, DevnetState
from eth_account import Account
from web3 import HTTPProvider, Web3

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest
from ax0n.mempool import Mempool, streams
from ax0n.mempool.entry import decode
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.params import TOKEN
from ax0n.v1 import router_pb2, router_pb2_grpc, types_pb2
from ax0n.zk import artifacts, mlp
from ax0n.zk.poseidon import to_bytes32
from tests.devnet.helpers import SlashBooks

ESCROW = 5 * TOKEN
SETTLE_S = 120.0
SLASH_WAIT_S = 120.0
SLASH_WAIT_S = 120.0


def _victim(w3: Web3, manifest: Manifest) -> str:
    """A fresh client with ESCROW in Settlement that never sends a request."""
    deployer = Signer.from_key(w3, dev_account(0).key)
    key = Account.create().key.to_0x_hex()
    victim = Signer.from_key(w3, key)
    w3.eth.wait_for_transaction_receipt(
        w3.eth.send_transaction({"from": deployer.address, "to": victim.address, "value": 10**18})
    )
    token, settlement = manifest.contract(w3, "Ax0nToken"), manifest.contract(w3, "Settlement")
    deployer.transact(token.functions.transfer(victim.address, ESCROW))
    victim.transact(token.functions.approve(settlement.address, ESCROW))
    victim.transact(settlement.functions.deposit(ESCROW))
    return victim.address


async def _fabricate(devnet: DevnetState, victim: str) -> types_pb2.ProvedReceipt:
    """The node's forgery: a request "from" the victim (signed by the node: the victim's key is not its to use),
    routed as the router routes it, answered with the model's true output, billed at the whole escrow."""
    node_key = (Path(devnet.client_key_file).parent / "node.key").read_text().strip()
    forged = types_pb2.InferenceRequest(
        model_id=devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1, max_latency_ms=60_000, fee_cap=str(ESCROW),
        nonce=7, deadline=4_102_444_800, chain_id=devnet.chain_id, settlement=bytes.fromhex(devnet.settlement[2:]),
    )  # fmt: skip
    forged = requests.sign(forged, node_key)
    forged.client = bytes.fromhex(victim[2:])
    forged.request_id = requests.request_id(forged)  # the id the victim's signature would have
    async with grpc.aio.insecure_channel(devnet.router_target) as channel:
        route = await router_pb2_grpc.RouterStub(channel).Route(
            router_pb2.RouteRequest(request_id=forged.request_id, model_id=forged.model_id)
        )
    model = mlp.devnet_model()
    x = mlp.parse_features(demo.ZK_FEATURES)
    output = model.forward(x).to_json()
    receipt = types_pb2.Receipt(
        request_id=forged.request_id, model_id=forged.model_id, model_commitment=model.commitment_bytes(),
        tier=types_pb2.TIER_ZK, input_hash=to_bytes32(mlp.input_hash(x)),
        output_hash=to_bytes32(mlp.output_hash(model.forward(x))), route=route,
        timings=types_pb2.Timings(output_tokens=1), fee=str(ESCROW), client=forged.client, fee_cap=str(ESCROW),
        chain_id=forged.chain_id, settlement=forged.settlement,
    )  # fmt: skip
    receipt = receipts.sign(receipt, node_key)
    mlp_artifacts = artifacts.load(artifacts.MLP)
    public = [int.from_bytes(receipt.model_commitment), int.from_bytes(receipt.input_hash)]
    public.append(int.from_bytes(receipt.output_hash))
    proof = types_pb2.Proof(
        envelope=mlp_artifacts.prove(model.circuit_inputs(x)),
        circuit_id=mlp_artifacts.spec.name,
        public_inputs=[v.to_bytes(32, "big") for v in public],
    )
    assert mlp_artifacts.verify(proof.envelope, public)  # a real proof: only the request is fabricated
    return types_pb2.ProvedReceipt(receipt=receipt, request=forged, output=output, proof=proof)


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    with Devnet(progress=False, state_dir=tmp_path_factory.mktemp("fabricated")) as devnet:
        yield devnet


@pytest.mark.timeout(400)
async def test_a_fabricated_receipt_never_debits_the_client_it_names(net: Devnet) -> None:
    devnet = net.state
    assert devnet is not None
    w3 = Web3(HTTPProvider(devnet.rpc_url))
    manifest = Manifest.load(devnet.deployment)
    settlement = manifest.contract(w3, "Settlement")
    books = SlashBooks.open(net, w3)
    # the honest path: a real request is proved, certified and settled on L1
    with demo.client_for(devnet) as client:
        result = await asyncio.to_thread(client.infer, model=devnet.zk_model, prompt=demo.ZK_FEATURES, max_tokens=1)
        settled = await asyncio.to_thread(client.wait_for_settlement, result, SETTLE_S)
    assert settled.tx_hash and w3.eth.get_transaction_receipt(settled.tx_hash)["status"] == 1

    victim = _victim(w3, manifest)
    proved = await _fabricate(devnet, victim)
    rid = bytes(proved.receipt.request_id).hex()
    block = w3.eth.block_number
    pool = Mempool.from_url(devnet.redis_url)
    try:
        executed = types_pb2.ExecutedReceipt(receipt=proved.receipt, request=proved.request, output=proved.output)
        await pool.publish(streams.EXECUTED, executed, key=rid)
        await pool.publish(streams.PROVED, proved, key=rid)
        async with asyncio.timeout(SLASH_WAIT_S):  # the quorum finds it unsigned by its client; the node pays
            while not (events := settlement.events.QuorumFaultChallenged().get_logs(from_block=block)):
                await asyncio.sleep(1)
        [event] = events
        assert event["args"]["receiptHash"] == receipts.receipt_hash(proved.receipt)
        books.assert_slashed(event["args"], "quorum_fault")

        dead = await pool.redis.xrange(streams.dead_letter_stream(streams.EXECUTED))
        reasons = [f[b"dead_reason"].decode() for _, f in dead if f[b"key"] == rid.encode()]
        assert reasons and "request signature" in reasons[0]  # the prover refused to prove it
        finals = [
            decode(streams.FINAL, "0-0", f, types_pb2.FinalizedReceipt).message
            for _, f in await pool.redis.xrange(streams.FINAL)
            if f[b"key"] == rid.encode()
        ]
        assert all(f.certificate.verdict != types_pb2.VERDICT_VALID for f in finals)  # never certified VALID
    finally:
        await pool.close()
    assert settlement.functions.escrow(victim).call() == ESCROW
    assert json.loads(settled.output) == json.loads(proved.output)  # the forgery computed honestly; still refused
