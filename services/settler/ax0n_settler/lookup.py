"""Settlement lookups: where a request settled, with its Merkle inclusion path."""

from __future__ import annotations

from ax0n.spec.params import Params
from ax0n.spec.settlement import BatchPlan, batch_id, tree_size
from ax0n.v1 import types_pb2
from ax0n_settler.journal import Journal, State


def settlement(journal: Journal, params: Params, request_id: bytes, head: int | None) -> types_pb2.Settlement | None:
    """The request's batch, leaf index and path; tx hash and block once mined. None if it is in no batch."""
    found = journal.locate(request_id)
    if found is None:
        return None
    seq, index = found
    rec = journal.get(seq)
    if rec is None:
        return None
    plan = BatchPlan(seq, tuple(rec.leaves), tree_size(params.max_batch_size), params)
    on_chain = rec.state in (State.MINED, State.CONFIRMED)
    out = types_pb2.Settlement(
        request_id=request_id,
        batch_id=batch_id(seq),
        leaf_index=index,
        merkle_path=[h.to_bytes(32, "big") for h in plan.path(index)],
        state=str(rec.state),
        batch_seq=seq,
        batch_root=rec.root.to_bytes(32, "big"),
    )
    if rec.proof:
        out.batch_proof.envelope = rec.proof
        out.batch_proof.circuit_id = rec.circuit_id
        out.batch_proof.public_inputs.extend(v.to_bytes(32, "big") for v in plan.statement.public_inputs())
    if on_chain:
        out.tx_hash = bytes.fromhex(rec.tx_hash.removeprefix("0x"))
        out.block_number = rec.block
        if head is not None:
            out.confirmations = max(0, head - rec.block + 1)
    return out
