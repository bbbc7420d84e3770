"""A zk-tier receipt signed with a wrong output: the prover proves the true output as fault evidence; an unsigned
or malformed claim is refused, never evidence."""

from __future__ import annotations

import asyncio

import pytest
from ax0n_prover.core import OutputFault, ProvingFailure, ReceiptProver
from ax0n_prover.server import ExecutedConsumer
from ax0n_prover.settings import FAULTS
from ax0n_tools.devnet.redis import RedisServer
from eth_account import Account

from ax0n.mempool import Mempool, streams
from ax0n.mempool.entry import decode
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n.zk.artifacts import Artifacts
from ax0n.zk.mlp import Prediction, QuantizedMLP, output_hash
from ax0n.zk.poseidon import to_bytes32
from tests.clients import answering, signed_request
from tests.prover.helpers import executed

NODE_KEY = "0x" + "4b" * 32
FEATURES = [(5 * i) % 17 - 8 for i in range(16)]


def tampered(model: QuantizedMLP, key: str | None = NODE_KEY) -> tuple[types_pb2.ExecutedReceipt, Prediction]:
    """A receipt claiming another label than the model computes (output and output hash), signed by `key`."""
    item = executed(model, FEATURES)
    true = Prediction.from_json(item.output)
    wrong = Prediction((true.label + 1) % 10, true.logits)
    item.output = wrong.to_json()
    item.receipt.output_hash = to_bytes32(output_hash(wrong))
    item.receipt.chain_id = 31337
    if key is not None:
        item.receipt.CopyFrom(receipts.sign(item.receipt, key))
    return item, true


def _words(proof: types_pb2.Proof) -> list[int]:
    return [int.from_bytes(w, "big") for w in proof.public_inputs]


def test_signed_wrong_output_gets_a_counter_proof(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    item, true = tampered(model)
    with pytest.raises(OutputFault) as caught:
        ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model}).prove(item)
    record = caught.value.record
    assert record.receipt == item.receipt and not record.HasField("certificate")
    assert record.true_output_hash == to_bytes32(output_hash(true)) != item.receipt.output_hash
    public = _words(record.counter_proof)
    # the statement Settlement.challengeZkOutput checks: the receipt's commitment and input give the true output
    assert public == [
        int.from_bytes(item.receipt.model_commitment, "big"),
        int.from_bytes(item.receipt.input_hash, "big"),
        int.from_bytes(record.true_output_hash, "big"),
    ]
    assert mlp_artifacts.verify(record.counter_proof.envelope, public)
    assert not mlp_artifacts.verify(
        record.counter_proof.envelope, [*public[:2], int.from_bytes(item.receipt.output_hash, "big")]
    )
    assert receipts.recover(record.receipt) == bytes.fromhex(Account.from_key(NODE_KEY).address[2:])


@pytest.mark.parametrize("case", ["unsigned", "signed by another key", "bad signature bytes", "malformed receipt"])
def test_unsigned_or_malformed_claims_are_no_evidence(mlp_artifacts: Artifacts, model: QuantizedMLP, case: str) -> None:
    item, _ = tampered(model, key=None if case == "unsigned" else NODE_KEY)
    if case == "signed by another key":
        item.receipt.node_id = b"\x11" * 20  # signed by NODE_KEY, claims to be another node's
    elif case == "bad signature bytes":
        item.receipt.signature = b"\x01" * 65
    elif case == "malformed receipt":
        item.receipt.request_id = b"\x01" * 7  # no EIP-712 hash: nothing anyone could have signed
    prover = ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model})
    with pytest.raises(ProvingFailure, match=r"not signed by its node|answers another request") as caught:
        prover.prove(item)
    assert not isinstance(caught.value, OutputFault)


def _asking(item: types_pb2.ExecutedReceipt, prompt: str) -> types_pb2.ExecutedReceipt:
    """`item` re-answered to a request its client did sign, whose prompt is `prompt`, and signed by the node."""
    item.request.CopyFrom(signed_request("mlp-devnet", prompt, nonce=7))
    item.receipt.CopyFrom(receipts.sign(answering(item.receipt, item.request), NODE_KEY))
    return item


def test_junk_is_refused_before_any_evidence(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    prover = ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model})
    garbage_prompt = _asking(tampered(model)[0], "not features")
    # the receipt's input hash is of another input than the one its client signed
    other_input = _asking(tampered(model)[0], str([v + 1 for v in FEATURES]))
    for item, reason in ((garbage_prompt, "malformed zk-tier input"), (other_input, "input hash does not match")):
        with pytest.raises(ProvingFailure, match=reason) as caught:
            prover.prove(item)
        assert not isinstance(caught.value, OutputFault)


async def test_consumer_publishes_evidence_and_dead_letters_junk(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    signed, _ = tampered(model)
    unsigned, _ = tampered(model, key=None)
    with RedisServer() as server:
        pool = Mempool.from_url(server.url)
        consumer = ExecutedConsumer(pool, ReceiptProver(mlp_artifacts, {model.commitment_bytes(): model}), "p1", 1)
        await pool.publish(streams.EXECUTED, signed, key="signed")
        await pool.publish(streams.EXECUTED, unsigned, key="unsigned")
        await consumer.start()
        try:
            async with asyncio.timeout(120):
                while not (
                    await pool.redis.xlen(FAULTS)
                    and await pool.redis.xlen(streams.dead_letter_stream(streams.EXECUTED))
                ):
                    await asyncio.sleep(0.2)
                while await pool.backlog(streams.EXECUTED, streams.PROVER_GROUP):
                    await asyncio.sleep(0.2)
            faults = await pool.redis.xrange(FAULTS)
            dead = await pool.redis.xrange(streams.dead_letter_stream(streams.EXECUTED))
            assert await pool.redis.xlen(streams.PROVED) == 0
        finally:
            await consumer.stop()
            await pool.close()
    assert len(faults) == 1 and len(dead) == 1
    fault = decode(FAULTS, "0-0", faults[0][1], types_pb2.FaultRecord)
    assert fault.key == f"zk-output:{receipts.receipt_hash(signed.receipt).hex()}"
    assert fault.message.receipt == signed.receipt
    assert mlp_artifacts.verify(fault.message.counter_proof.envelope, _words(fault.message.counter_proof))
    assert b"not signed by its node" in dead[0][1][b"dead_reason"]
