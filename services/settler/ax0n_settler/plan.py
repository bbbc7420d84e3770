"""A settlement batch as pure data: its leaves, Merkle tree, id and the statement Settlement.submitBatch takes.

A batch is identified by (chain id, Settlement address, seq): the journal is bound to one chain and contract,
and `seq` is the id Settlement enforces (1, 2, ...). The protobuf `batch_id` is `seq` as a 32-byte big-endian
uint256, as the batch committee signs it (docs/meshsync.md). The root is deliberately not part of the id: a
reorged batch keeps its id, and a root-derived id would let a settler grind batch-committee seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ax0n.chain.batch import Batch
from ax0n.spec.params import Params
from ax0n.zk import batch as zkbatch
from ax0n.zk.batch import Leaf


def tree_size(max_batch_size: int) -> int:
    """Leaves in the batch tree: the power of two (at least 2) the batch circuit is built for."""
    return max(2, 1 << (max_batch_size - 1).bit_length())


def batch_id(seq: int) -> bytes:
    """The protobuf / batch-committee batch id: `seq` as a 32-byte big-endian uint256."""
    return seq.to_bytes(32, "big")


@dataclass(frozen=True)
class BatchPlan:
    """Batch `seq` over `leaves`, in a tree of `size` leaves, under `params`' fee shares."""

    seq: int
    leaves: tuple[Leaf, ...]
    size: int
    params: Params

    def __post_init__(self) -> None:
        if not 1 <= len(self.leaves) <= self.size:
            raise ValueError(f"a batch holds 1..{self.size} receipts")
        if len({leaf.request_id for leaf in self.leaves}) != len(self.leaves):
            raise ValueError("a request id appears twice in one batch")

    @cached_property
    def levels(self) -> list[list[int]]:
        return zkbatch.tree_levels(self.leaves, self.size)

    @property
    def root(self) -> int:
        return self.levels[-1][0]

    def path(self, index: int) -> list[int]:
        """Sibling hashes from leaf `index` to the root (ax0n.zk.batch.verify_inclusion checks them)."""
        out = []
        for level in self.levels[:-1]:
            out.append(level[index ^ 1])
            index //= 2
        return out

    def statement(self) -> zkbatch.BatchStatement:
        """The batch circuit's public statement (root and totals) for these leaves."""
        return zkbatch.statement(self.seq, self.leaves, self.size, self.params)

    @cached_property
    def chain_batch(self) -> Batch:
        """The Settlement.Batch: the batch circuit's statement (root, totals, operator and client slots)."""
        return Batch.from_statement(self.statement())
