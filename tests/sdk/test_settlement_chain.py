"""The SDK's settlement check on what the real settler produces: a batch settled on anvil, read back from L1.

Uses the settler's test deployment (tests/settler/helpers.py): Settlement with a verifier that accepts any
proof, and the settler's NoProof prover (288 zero bytes), which the SDK must refuse; the inclusion path and
the chain read-back are then checked without it (test_verify.py checks a real batch proof).
"""

from __future__ import annotations

import itertools

import pytest
import redis
from ax0n_settler import lookup
from ax0n_settler.journal import Journal
from ax0n_tools.devnet.anvil import Anvil

from ax0n.sdk import ChainCheck, InferenceResult, VerificationError, Verifier
from ax0n.spec.params import DEVNET
from ax0n.v1 import types_pb2
from tests.settler.helpers import deploy, enqueue, finalized
from tests.settler.test_settle import make_settler

_prefixes = itertools.count()


def test_settled_receipt_is_read_back_from_the_chain(redis_url: str) -> None:
    rclient = redis.Redis.from_url(redis_url)
    with Anvil() as anvil:
        d = deploy(anvil)
        journal = Journal(rclient, prefix=f"test:sdk:settle:{next(_prefixes)}")
        finals = [finalized(d, i, d.signers[i % 2], d.clients[i % 2]) for i in range(3)]
        enqueue(rclient, journal, finals)
        settler = make_settler(d, journal)
        rid = bytes(finals[1].receipt.request_id)
        settlement = None
        for _ in range(40):
            settler.tick()
            anvil.mine()
            settlement = lookup.settlement(journal, DEVNET, rid, d.w3.eth.block_number)
            if settlement is not None and settlement.tx_hash:
                break
        assert settlement is not None and settlement.tx_hash

        def result(s: types_pb2.Settlement) -> InferenceResult:
            raw = types_pb2.InferenceResult(request_id=rid, receipt=finals[1].receipt, settlement=s)
            return InferenceResult(types_pb2.InferenceRequest(request_id=rid), raw)

        # the settler credits the operator registered for the receipt's signing key (operator 1 signs with a
        # separate key), so the leaf needs that mapping: without it the receipt is not found in the batch
        operators = {
            bytes.fromhex(s.address[2:]): bytes.fromhex(o.address[2:])
            for s, o in zip(d.signers, d.operators, strict=True)
        }
        with pytest.raises(VerificationError, match="not included"):
            Verifier(params=DEVNET).check_settlement(result(settlement))
        verifier = Verifier(params=DEVNET, chain=ChainCheck(d.w3, d.settlement), operator_of=operators.__getitem__)
        # the test settler's placeholder proof is refused ...
        with pytest.raises(VerificationError, match="settlement: batch proof: unknown circuit 'none"):
            verifier.check_settlement(result(settlement))
        # ... so the rest is checked on the settlement without it: inclusion, then the chain read-back
        settlement.ClearField("batch_proof")
        unchecked = verifier.check_settlement(result(settlement))
        assert unchecked == ["settlement batch proof: its public inputs did not come with the settlement"]
        assert result(settlement).tx_hash == "0x" + bytes(settlement.tx_hash).hex()

        def edited(**fields: object) -> InferenceResult:
            s = types_pb2.Settlement()
            s.CopyFrom(settlement)
            for name, value in fields.items():
                setattr(s, name, value)
            return result(s)

        other_tx = d.w3.eth.get_block(1)["transactions"][0]  # the token deployment
        cases: dict[str, tuple[InferenceResult, str]] = {
            "block": (edited(block_number=settlement.block_number + 1), "transaction is in block"),
            "tx": (edited(tx_hash=bytes(other_tx)), "did not call the Settlement contract"),
            "unknown tx": (edited(tx_hash=b"\x01" * 32), "is not on chain"),
            "batch": (edited(batch_id=(2).to_bytes(32, "big"), batch_seq=2), "holds another root"),
        }
        for bad, message in cases.values():
            with pytest.raises(VerificationError, match=message):
                verifier.check_settlement(bad)
    rclient.close()
