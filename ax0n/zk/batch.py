"""Settlement-batch leaves, their Poseidon Merkle tree and fee totals: the Python mirror of circuits/batch.circom.

Leaf i (active when i < count) = Poseidon(requestHi, requestLo, receiptHi, receiptLo, operator, client, fee, feeCap);
padding leaves are 0. Internal node = Poseidon(left, right). See docs/proofs.md for the full layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ax0n.spec.params import BPS, MAINNET, Params
from ax0n.zk.poseidon import poseidon

MAX_FEE = (1 << 96) - 1


def split128(value: bytes) -> tuple[int, int]:
    """A 32-byte value as (high 128 bits, low 128 bits)."""
    if len(value) != 32:
        raise ValueError("expected 32 bytes")
    n = int.from_bytes(value, "big")
    return n >> 128, n & ((1 << 128) - 1)


@dataclass(frozen=True, slots=True)
class Leaf:
    """One settled receipt as the batch circuit sees it."""

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


def bps_share(amount: int, bps: int) -> int:
    return amount * bps // BPS


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


def inclusion_path(leaves: Sequence[Leaf], size: int, index: int) -> list[int]:
    """Sibling hashes from leaf `index` up to the root."""
    levels = tree_levels(leaves, size)
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
    """The batch circuit's public inputs, in order (docs/proofs.md)."""

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
    """Root and totals for `leaves`; slots list distinct addresses in ascending order, then zeros."""
    op_bps, val_bps = params.operator_fee_share_bps, params.validator_fee_share_bps
    fees = [leaf.fee for leaf in leaves]
    op_shares = [bps_share(f, op_bps) for f in fees]
    val_shares = [bps_share(f, val_bps) for f in fees]
    operators, op_amounts = _slots([int.from_bytes(x.operator, "big") for x in leaves], op_shares, size)
    clients, client_amounts = _slots([int.from_bytes(x.client, "big") for x in leaves], fees, size)
    return BatchStatement(
        batch_id=batch_id,
        root=merkle_root(leaves, size),
        count=len(leaves),
        operator_bps=op_bps,
        validator_bps=val_bps,
        fee_total=sum(fees),
        validator_total=sum(val_shares),
        treasury_total=sum(fees) - sum(op_shares) - sum(val_shares),
        operators=operators,
        operator_amounts=op_amounts,
        clients=clients,
        client_amounts=client_amounts,
    )


def circuit_inputs(leaves: Sequence[Leaf], size: int, stmt: BatchStatement) -> dict[str, object]:
    """Full witness input for `BatchSettlement(log2 size, size)`."""
    cols = [leaf.fields() for leaf in leaves] + [[0] * 8] * (size - len(leaves))
    names = ["requestHi", "requestLo", "receiptHi", "receiptLo", "operator", "client", "fee", "feeCap"]
    inputs: dict[str, object] = {
        "batchId": stmt.batch_id,
        "root": stmt.root,
        "count": stmt.count,
        "operatorBps": stmt.operator_bps,
        "validatorBps": stmt.validator_bps,
        "feeTotal": stmt.fee_total,
        "validatorTotal": stmt.validator_total,
        "treasuryTotal": stmt.treasury_total,
        "operators": list(stmt.operators),
        "operatorAmounts": list(stmt.operator_amounts),
        "clients": list(stmt.clients),
        "clientAmounts": list(stmt.client_amounts),
    }
    for k, name in enumerate(names):
        inputs[name] = [row[k] for row in cols]
    return inputs
