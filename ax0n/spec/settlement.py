"""Settlement batches: which finalized receipt settles as which leaf, the batch tree, its statement and its id.

Leaf i (active when i < count) = Poseidon(requestHi, requestLo, receiptHi, receiptLo, operator, client, fee,
feeCap); padding leaves are 0 and an internal node is Poseidon(left, right) (ax0n/zk/circuits/batch.circom, the batch
proof's statement). The operator a leaf credits is the NodeRegistry operator of the node its receipt's route
names (the receipt is signed by that node's registered key: validators check it before certifying), resolved
by the caller's `OperatorOf`. A batch is identified by its sequence number in the Settlement contract.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

from ax0n.spec import fees
from ax0n.spec.params import MAINNET, Params
from ax0n.spec.receipt import receipt_hash
from ax0n.v1 import types_pb2
from ax0n.zk.poseidon import poseidon

MAX_FEE = (1 << 96) - 1
# A batch committee member that refuses a batch because receipts in it are not final names them in this gRPC
# trailing metadata of its SignBatch answer (request ids, hex, comma-separated): the settler leaves them out.
REFUSED_TRAILER = "ax0n-refused-requests"
OperatorOf = Callable[[types_pb2.Receipt], bytes | None]  # the registered operator credited for a receipt


class Unsettleable(ValueError):
    """A finalized receipt that cannot become a batch leaf; the message says why."""


def split128(value: bytes) -> tuple[int, int]:
    """A 32-byte value as (high 128 bits, low 128 bits)."""
    if len(value) != 32:
        raise ValueError("expected 32 bytes")
    n = int.from_bytes(value, "big")
    return n >> 128, n & ((1 << 128) - 1)


@dataclass(frozen=True, slots=True)
class Leaf:
    """One settled receipt as the batch statement sees it."""

    request_id: bytes  # 32 bytes
    receipt_hash: bytes  # 32 bytes
    operator: bytes  # 20-byte address credited with the operator share
    client: bytes  # 20-byte address debited the fee
    fee: int  # wei
    fee_cap: int  # wei, signed by the client

    def __post_init__(self) -> None:
        if len(self.request_id) != 32 or len(self.receipt_hash) != 32:
            raise ValueError("request id and receipt hash are 32 bytes")
        if len(self.operator) != 20 or len(self.client) != 20:
            raise ValueError("operator and client are 20-byte addresses")
        if not any(self.operator) or not any(self.client):
            raise ValueError("operator and client must be non-zero")
        if not 0 <= self.fee <= self.fee_cap <= MAX_FEE:
            raise ValueError("need 0 <= fee <= fee_cap < 2^96")

    def fields(self) -> list[int]:
        return [
            *split128(self.request_id),
            *split128(self.receipt_hash),
            int.from_bytes(self.operator, "big"),
            int.from_bytes(self.client, "big"),
            self.fee,
            self.fee_cap,
        ]

    def hash(self) -> int:
        return poseidon(self.fields())


def check_final(final: types_pb2.FinalizedReceipt) -> bytes:
    """The receipt hash of a finalized receipt whose certificate is VALID and cites it; Unsettleable otherwise."""
    r, cert = final.receipt, final.certificate
    if cert.verdict != types_pb2.VERDICT_VALID:
        raise Unsettleable("certificate verdict is not VALID")
    try:
        digest = receipt_hash(r)
    except ValueError as exc:
        raise Unsettleable(f"receipt cannot be hashed: {exc}") from exc
    if cert.request_id != r.request_id or cert.receipt_hash != digest:
        raise Unsettleable("certificate does not cite this receipt")
    return digest


def leaf_of(final: types_pb2.FinalizedReceipt, operator: bytes | None) -> Leaf:
    """The leaf a finalized receipt settles as, crediting `operator` (the registered operator of the node its
    route names, as `OperatorOf` resolves it); Unsettleable when it cannot be settled."""
    digest = check_final(final)
    r = final.receipt
    if operator is None:
        raise Unsettleable(f"receipt signer 0x{bytes(r.node_id).hex()} has no single active operator")
    try:
        return Leaf(
            bytes(r.request_id),
            digest,
            operator,
            bytes(r.client),
            fees.amount(r.fee, "receipt.fee"),
            fees.amount(r.fee_cap, "receipt.fee_cap"),
        )
    except ValueError as exc:
        raise Unsettleable(str(exc)) from exc


def tree_size(max_batch_size: int) -> int:
    """Leaves in the batch tree: max_batch_size rounded up to a power of two (at least 2)."""
    return max(2, 1 << (max_batch_size - 1).bit_length())


def batch_id(seq: int) -> bytes:
    """The protobuf / batch-committee batch id: `seq` as a 32-byte big-endian uint256."""
    return seq.to_bytes(32, "big")


def tree_levels(leaves: Sequence[Leaf], size: int) -> list[list[int]]:
    """All levels of the Merkle tree over `leaves` zero-padded to `size` (a power of two), leaves first."""
    if not 1 <= len(leaves) <= size or size & (size - 1):
        raise ValueError(f"need 1..{size} leaves and a power-of-two size")
    level = [leaf.hash() for leaf in leaves] + [0] * (size - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [poseidon([level[j], level[j + 1]]) for j in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_root(leaves: Sequence[Leaf], size: int) -> int:
    return tree_levels(leaves, size)[-1][0]


def path_from(levels: Sequence[Sequence[int]], index: int) -> list[int]:
    """Sibling hashes from leaf `index` up to the root of a tree given by its levels."""
    path = []
    for level in levels[:-1]:
        path.append(level[index ^ 1])
        index //= 2
    return path


def verify_inclusion(leaf: Leaf, index: int, path: Sequence[int], root: int) -> bool:
    node = leaf.hash()
    for sibling in path:
        node = poseidon([sibling, node] if index & 1 else [node, sibling])
        index //= 2
    return node == root


@dataclass(frozen=True, slots=True)
class BatchStatement:
    """The batch statement's public inputs, in order (docs/proofs.md)."""

    batch_id: int
    root: int
    count: int
    operator_bps: int
    validator_bps: int
    fee_total: int
    validator_total: int
    treasury_total: int
    operators: tuple[int, ...]  # slot addresses (0 = unused)
    operator_amounts: tuple[int, ...]
    clients: tuple[int, ...]
    client_amounts: tuple[int, ...]

    def public_inputs(self) -> list[int]:
        return [
            self.batch_id,
            self.root,
            self.count,
            self.operator_bps,
            self.validator_bps,
            self.fee_total,
            self.validator_total,
            self.treasury_total,
            *self.operators,
            *self.operator_amounts,
            *self.clients,
            *self.client_amounts,
        ]


def _slots(keys: Sequence[int], values: Sequence[int], size: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    totals: dict[int, int] = {}
    for k, v in zip(keys, values, strict=True):
        totals[k] = totals.get(k, 0) + v
    addrs = sorted(totals)
    if len(addrs) > size:
        raise ValueError("more distinct addresses than slots")
    pad = size - len(addrs)
    return tuple(addrs) + (0,) * pad, tuple(totals[a] for a in addrs) + (0,) * pad


def statement(batch_id: int, leaves: Sequence[Leaf], size: int, params: Params = MAINNET) -> BatchStatement:
    """Root and totals for `leaves`, each fee split as `fees.split` splits it; slots list distinct addresses in
    ascending order, then zeros."""
    shares = [fees.split(leaf.fee, params) for leaf in leaves]
    operators, op_amounts = _slots([int.from_bytes(x.operator, "big") for x in leaves], [s[0] for s in shares], size)
    clients, client_amounts = _slots([int.from_bytes(x.client, "big") for x in leaves], [x.fee for x in leaves], size)
    return BatchStatement(
        batch_id=batch_id,
        root=merkle_root(leaves, size),
        count=len(leaves),
        operator_bps=params.operator_fee_share_bps,
        validator_bps=params.validator_fee_share_bps,
        fee_total=sum(x.fee for x in leaves),
        validator_total=sum(s[1] for s in shares),
        treasury_total=sum(s[2] for s in shares),
        operators=operators,
        operator_amounts=op_amounts,
        clients=clients,
        client_amounts=client_amounts,
    )


def validator_payout(validator_total: int, stake: int, signed_stake: int) -> int:
    """A signer's claim on a batch's validator fees (Settlement.claimValidatorFees): validatorTotal pro rata to its
    stake at the certificate's reference block among the signers' stake, floored (the dust stays unclaimed)."""
    return validator_total * stake // signed_stake


@dataclass(frozen=True)
class BatchPlan:
    """Batch `seq` over `leaves` (distinct requests), in a tree of `size` leaves, under `params`' fee shares."""

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
        return tree_levels(self.leaves, self.size)

    @property
    def root(self) -> int:
        return self.levels[-1][0]

    def path(self, index: int) -> list[int]:
        return path_from(self.levels, index)

    @cached_property
    def statement(self) -> BatchStatement:
        return statement(self.seq, self.leaves, self.size, self.params)
