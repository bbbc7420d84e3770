"""The router's token reader when an executor dies mid-stream and a replica streams the request again."""

from __future__ import annotations

from ax0n_router import mesh

from ax0n.mempool import Mempool
from ax0n.mempool.streams import tokens_stream
from ax0n.v1 import types_pb2

RID = b"\x11" * 32


async def test_a_replicas_restart_from_index_zero_is_not_repeated(redis_url: str) -> None:
    pool = Mempool.from_url(redis_url)
    try:
        deltas = ["The", " sky", " is", " blue"]
        first = [types_pb2.TokenChunk(request_id=RID, index=i, delta=d) for i, d in enumerate(deltas[:2])]  # then died
        again = [types_pb2.TokenChunk(request_id=RID, index=i, delta=d) for i, d in enumerate(deltas)]
        done = types_pb2.TokenChunk(request_id=RID, index=4, done=True, finish_reason="stop")
        for chunk in [*first, *again, done]:
            await pool.publish(tokens_stream(RID), chunk, key=RID.hex())
        got = [c async for c in mesh.tokens(pool, RID, timeout_s=5)]
        assert "".join(c.delta for c in got) == "The sky is blue"
        assert [c.index for c in got] == [0, 1, 2, 3, 4] and got[-1].done
    finally:
        await pool.close()
