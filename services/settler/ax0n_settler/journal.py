"""The settler's durable batch journal in Redis: which receipts went into which batch, and each batch's state.

    built ─prove─▶ proved ─committee─▶ signed ─sign tx, record─▶ sent(txs) ─receipt─▶ mined(block) ─depth─▶ confirmed
                                         ▲                           │                  │                  │
                                         └─ nonce taken / reverted ──┘                  └── reorged out: back to sent

Every transition is one Redis transaction, and a transaction is written to the journal (raw signed bytes,
hash, nonce) *before* it is broadcast, so a restart at any point finds either nothing sent or the exact
transaction that may be in flight. Keys (prefix P, default `ax0n:settler:{journal}`: one hash tag, one Redis Cluster slot):

    P:queue              stream of FinalizedReceipt the intake consumer appended (atomically with its ack)
    P:cursor             id of the last queue entry taken into a batch
    P:next_seq           the sequence number the next batch gets
    P:meta               chain id and settlement address this journal belongs to
    P:leader             the settler instance holding the single-writer lease
    P:batch:{seq}        hash: state, root, leaves (JSON), proof, circuit_id, cert (JSON), txs (JSON), block, block_hash
    P:open               sorted set of batch seqs not yet confirmed
    P:receipt:{rid hex}  "seq:index" of the batch leaf that settles a request
    P:final:{rid hex}    the batched FinalizedReceipt (with its certificate) for the batch committee, until retired
    P:rejected           stream of receipts no batch can take: `request_id`, `reason` (and the receipt as `data`)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import redis

from ax0n.mempool.streams import SETTLER_JOURNAL
from ax0n.spec.settlement import Leaf
from ax0n.v1 import types_pb2

DEFAULT_PREFIX = SETTLER_JOURNAL


class State(StrEnum):
    BUILT = "built"
    PROVED = "proved"
    SIGNED = "signed"
    SENT = "sent"
    MINED = "mined"
    CONFIRMED = "confirmed"


class JournalMismatch(RuntimeError):
    """The journal belongs to another chain or settlement contract."""


@dataclass(frozen=True, slots=True)
class SentTx:
    """One signed submitBatch transaction (several share a nonce when fees were bumped)."""

    hash: str
    nonce: int
    max_fee: int
    tip: int
    gas: int
    raw: str
    sent_at: float

    def to_json(self) -> dict[str, object]:
        return {
            "hash": self.hash,
            "nonce": self.nonce,
            "max_fee": self.max_fee,
            "tip": self.tip,
            "gas": self.gas,
            "raw": self.raw,
            "sent_at": self.sent_at,
        }


class Queued(NamedTuple):
    """A receipt in the journal queue, with the trace context of the intake that queued it."""

    id: str
    receipt: types_pb2.FinalizedReceipt
    carrier: dict[str, str]


@dataclass(frozen=True, slots=True)
class Taken:
    """What a batch takes from the queue: its leaves and root, and the receipts rejected with a reason."""

    leaves: list[Leaf]
    root: int
    rejected: list[tuple[types_pb2.FinalizedReceipt, str]]


@dataclass
class BatchRecord:
    seq: int
    state: State
    root: int
    leaves: list[Leaf]
    proof: bytes = b""
    circuit_id: str = ""
    cert: tuple[int, list[str], bytes] | None = None  # Settlement.Certificate once signed
    txs: list[SentTx] = field(default_factory=list)
    block: int = 0
    block_hash: str = ""
    tx_hash: str = ""  # the transaction that was mined


def _leaf_json(leaf: Leaf) -> list[object]:
    return [
        leaf.request_id.hex(),
        leaf.receipt_hash.hex(),
        leaf.operator.hex(),
        leaf.client.hex(),
        leaf.fee,
        leaf.fee_cap,
    ]


def _leaf(row: list[object]) -> Leaf:
    rid, rh, op, client, fee, cap = row
    return Leaf(
        bytes.fromhex(str(rid)),
        bytes.fromhex(str(rh)),
        bytes.fromhex(str(op)),
        bytes.fromhex(str(client)),
        int(str(fee)),
        int(str(cap)),
    )


# KEYS: lease key; ARGV: owner, ttl ms. Take the lease if free, or renew it if `owner` holds it.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""


def _cert(text: str) -> tuple[int, list[str], bytes]:
    reference_block, nonsigners, signature = json.loads(text)
    return int(reference_block), list(nonsigners), bytes.fromhex(signature)


class Journal:
    """Batches and receipt assignments for one (chain, settlement contract), stored in Redis."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self.r = client
        self.p = prefix
        self.queue = f"{prefix}:queue"

    def _batch(self, seq: int) -> str:
        return f"{self.p}:batch:{seq}"

    def _receipt(self, request_id: bytes) -> str:
        return f"{self.p}:receipt:{request_id.hex()}"

    def _final(self, request_id: bytes) -> str:
        return f"{self.p}:final:{request_id.hex()}"

    def finals(self, request_ids: list[bytes]) -> list[types_pb2.FinalizedReceipt]:
        """The finalized receipts (with their certificates) batched under `request_ids`, in that order."""
        raw = self.r.mget([self._final(r) for r in request_ids])
        missing = [r.hex() for r, data in zip(request_ids, raw, strict=True) if data is None]
        if missing:
            raise LookupError(f"journal holds no finalized receipt for {missing[:3]}")
        return [types_pb2.FinalizedReceipt.FromString(data) for data in raw]

    def bind(self, chain_id: int, settlement: str, first_seq: int) -> None:
        """Tie the journal to one chain and contract (refusing another), starting sequence numbers at `first_seq`."""
        meta = {"chain_id": str(chain_id), "settlement": settlement.lower()}
        self.r.hsetnx(f"{self.p}:meta", "chain_id", meta["chain_id"])
        self.r.hsetnx(f"{self.p}:meta", "settlement", meta["settlement"])
        stored = {k.decode(): v.decode() for k, v in self.r.hgetall(f"{self.p}:meta").items()}
        if stored != meta:
            raise JournalMismatch(f"journal {self.p} belongs to {stored}, not {meta}")
        self.r.setnx(f"{self.p}:next_seq", first_seq)

    def hold_lease(self, owner: str, ttl_s: float) -> bool:
        """Take or renew the single-writer lease (one settler drives a settlement account at a time)."""
        return bool(self.r.eval(LEASE, 1, f"{self.p}:leader", owner, int(ttl_s * 1000)))

    # intake queue --------------------------------------------------------------------------------------
    def pending(self, limit: int) -> list[Queued]:
        """Up to `limit` queued receipts after the cursor, oldest first."""
        cursor = (self.r.get(f"{self.p}:cursor") or b"0-0").decode()
        out = []
        for entry_id, fields in self.r.xrange(self.queue, f"({cursor}", "+", count=limit):
            msg = types_pb2.FinalizedReceipt.FromString(fields[b"data"])
            carrier = {k.decode(): fields[k].decode() for k in (b"traceparent", b"tracestate") if k in fields}
            out.append(Queued(entry_id.decode(), msg, carrier))
        return out

    # batches -------------------------------------------------------------------------------------------
    def create(self, take: Callable[[int, list[Queued], set[bytes]], Taken], limit: int) -> int | None:
        """Atomically take up to `limit` queued receipts into the next batch.

        `take(seq, entries, assigned)` chooses the leaves (skipping request ids in `assigned`, already in a
        batch) and the receipts to reject. Returns the new batch's seq, or None when no leaf was taken.
        """
        cursor_key, seq_key = f"{self.p}:cursor", f"{self.p}:next_seq"
        while True:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(cursor_key, seq_key)
                    entries = self.pending(limit)
                    if not entries:
                        return None
                    seq = int(pipe.get(seq_key) or 1)
                    rids = [bytes(q.receipt.receipt.request_id) for q in entries]
                    hits = self.r.mget([self._receipt(r) for r in rids])  # one slot; WATCH guards the cursor
                    taken = take(seq, entries, {rid for rid, hit in zip(rids, hits, strict=True) if hit})
                    pipe.multi()
                    pipe.set(cursor_key, entries[-1].id)
                    for final, reason in taken.rejected:
                        rejected = {"request_id": final.receipt.request_id.hex(), "reason": reason}
                        pipe.xadd(f"{self.p}:rejected", {**rejected, "data": final.SerializeToString()})
                    if taken.leaves:
                        pipe.hset(
                            self._batch(seq),
                            mapping={
                                "state": State.BUILT,
                                "root": str(taken.root),
                                "leaves": json.dumps([_leaf_json(x) for x in taken.leaves]),
                                "txs": "[]",
                            },
                        )
                        finals = {bytes(q.receipt.receipt.request_id): q.receipt for q in entries}
                        for i, leaf in enumerate(taken.leaves):
                            pipe.set(self._receipt(leaf.request_id), f"{seq}:{i}")
                            pipe.set(self._final(leaf.request_id), finals[leaf.request_id].SerializeToString())
                        pipe.set(seq_key, seq + 1)
                        pipe.zadd(f"{self.p}:open", {str(seq): seq})
                    pipe.execute()
                    return seq if taken.leaves else None
                except redis.WatchError:
                    continue

    def get(self, seq: int) -> BatchRecord | None:
        h = {k.decode(): v.decode() for k, v in self.r.hgetall(self._batch(seq)).items()}
        if not h:
            return None
        return BatchRecord(
            seq=seq,
            state=State(h["state"]),
            root=int(h["root"]),
            leaves=[_leaf(row) for row in json.loads(h["leaves"])],
            proof=bytes.fromhex(h.get("proof", "")),
            circuit_id=h.get("circuit_id", ""),
            cert=_cert(h["cert"]) if h.get("cert") else None,
            txs=[SentTx(**t) for t in json.loads(h.get("txs", "[]"))],
            block=int(h.get("block", 0)),
            block_hash=h.get("block_hash", ""),
            tx_hash=h.get("tx_hash", ""),
        )

    def open_batches(self) -> list[int]:
        return [int(s) for s in self.r.zrange(f"{self.p}:open", 0, -1)]

    def watched(self) -> list[int]:
        """Seqs confirmed but still watched for reorgs (see `retire`)."""
        return [int(s) for s in self.r.zrange(f"{self.p}:watch", 0, -1)]

    def locate(self, request_id: bytes) -> tuple[int, int] | None:
        """(seq, leaf index) of the batch holding `request_id`."""
        hit = self.r.get(self._receipt(request_id))
        if hit is None:
            return None
        seq, index = hit.decode().split(":")
        return int(seq), int(index)

    # transitions ---------------------------------------------------------------------------------------
    def proved(self, seq: int, proof: bytes, circuit_id: str) -> None:
        self.r.hset(self._batch(seq), mapping={"state": State.PROVED, "proof": proof.hex(), "circuit_id": circuit_id})

    def signed(self, seq: int, cert: tuple[int, list[str], bytes]) -> None:
        reference_block, nonsigners, signature = cert
        text = json.dumps([reference_block, nonsigners, signature.hex()])
        self.r.hset(self._batch(seq), mapping={"state": State.SIGNED, "cert": text})

    def uncertify(self, seq: int) -> None:
        """Back to `proved`: the certificate no longer fits the validator set (no transaction of it exists)."""
        self.r.hset(self._batch(seq), mapping={"state": State.PROVED, "cert": ""})

    def record_tx(self, seq: int, tx: SentTx) -> None:
        """Write-ahead: the signed transaction joins the batch's list before it is broadcast."""
        rec = self.get(seq)
        assert rec is not None
        txs = [t.to_json() for t in rec.txs] + [tx.to_json()]
        self.r.hset(self._batch(seq), mapping={"state": State.SENT, "txs": json.dumps(txs)})

    def mined(self, seq: int, tx_hash: str, block: int, block_hash: str) -> None:
        self.r.hset(
            self._batch(seq),
            mapping={"state": State.MINED, "tx_hash": tx_hash, "block": block, "block_hash": block_hash},
        )

    def confirmed(self, seq: int) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._batch(seq), "state", State.CONFIRMED)
            pipe.zrem(f"{self.p}:open", str(seq))
            pipe.zadd(f"{self.p}:watch", {str(seq): seq})
            pipe.execute()

    def reopen(self, seq: int) -> None:
        """Back to `signed` (transactions forgotten): the nonce went to another transaction, or ours reverted."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._batch(seq),
                mapping={"state": State.SIGNED, "txs": "[]", "tx_hash": "", "block": 0, "block_hash": ""},
            )
            pipe.zrem(f"{self.p}:watch", str(seq))
            pipe.zadd(f"{self.p}:open", {str(seq): seq})
            pipe.execute()

    def rebuild(self, seq: int, leaves: list[Leaf], root: int, dropped: list[tuple[Leaf, str]]) -> None:
        """Replace an unsent batch's leaves (back to `built`), rejecting `dropped`; an emptied batch is removed
        and its seq reused. Only for the newest batch, before any transaction of it exists."""
        with self.r.pipeline(transaction=True) as pipe:
            for leaf, reason in dropped:
                pipe.delete(self._receipt(leaf.request_id), self._final(leaf.request_id))
                pipe.xadd(f"{self.p}:rejected", {"request_id": leaf.request_id.hex(), "reason": reason})
            if leaves:
                fields = {
                    "state": State.BUILT,
                    "root": str(root),
                    "proof": "",
                    "cert": "",
                    "leaves": json.dumps([_leaf_json(x) for x in leaves]),
                }
                pipe.hset(self._batch(seq), mapping=fields)
                for i, leaf in enumerate(leaves):
                    pipe.set(self._receipt(leaf.request_id), f"{seq}:{i}")
            else:
                pipe.delete(self._batch(seq))
                pipe.zrem(f"{self.p}:open", str(seq))
                pipe.set(f"{self.p}:next_seq", seq)
            pipe.execute()

    def unmine(self, seq: int) -> None:
        """Back to `sent` (transactions kept, so the same signed bytes go out again): the block was reorged out."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._batch(seq), mapping={"state": State.SENT, "tx_hash": "", "block": 0, "block_hash": ""})
            pipe.zrem(f"{self.p}:watch", str(seq))
            pipe.zadd(f"{self.p}:open", {str(seq): seq})
            pipe.execute()

    def retire(self, seq: int) -> None:
        """Stop watching a confirmed batch (past the reorg horizon); its receipts' certificates are no longer
        needed (the batch committee signed, and the leaves stay for inclusion proofs)."""
        rec = self.get(seq)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(f"{self.p}:watch", str(seq))
            for leaf in rec.leaves if rec else ():
                pipe.delete(self._final(leaf.request_id))
            pipe.execute()
