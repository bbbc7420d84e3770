"""Optimistic settlement batches: keccak leaves with running totals, per-account entries, their trees, the header
a committee signs, and the fraud predicates a challenge proves on-chain (contracts/src/libraries/BatchLeaves.sol).

Each leaf is one settled receipt and sits in two chains, one per side: its client's debits (amount = fee) and its
operator's credits (amount = ⌊fee · operator_bps / 10,000⌋). On each side a leaf names its predecessor of the same
account (`prev` = 1 + its index, 0 for the first), carries the running total including itself (`cum`) and the slot
of its account's entry. Entries are sorted by address and hold each account's totals, 1 + the index of its last
leaf per side (0 = none) and running sums over entries 0..slot; the last entry's sums are the header's totals.
Any lie in that structure shows up in one leaf, one entry or a pair of them, checkable in one transaction.

Trees are OpenZeppelin's: a leaf is keccak256(keccak256(abi.encode(struct))), a parent keccak256 of its children
sorted, and an odd node at the end of a level moves up unhashed. Positions are not bound by the tree: a leaf and
an entry carry their index and slot, and two items claiming one position are a fault.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cached_property

from eth_utils import keccak

from ax0n.spec import fees, settlement
from ax0n.spec import request as requests
from ax0n.v1 import types_pb2

BPS = 10_000
SIDES = ("debit", "credit")
MAX_FEE = (1 << 96) - 1


def _word(value: int | bytes) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\0")
    return value.to_bytes(32, "big")


def abi_words(values: Sequence[int | bytes]) -> bytes:
    """abi.encode of static values: each as one 32-byte word (addresses and bytes32 given as bytes)."""
    return b"".join(_word(v) for v in values)


def _item_hash(encoded: bytes) -> bytes:
    return keccak(keccak(encoded))


@dataclass(frozen=True, slots=True)
class Leaf:
    """One settled receipt (BatchLeaves.Leaf, in its field order)."""

    index: int
    client: bytes
    operator: bytes
    fee: int
    receipt_hash: bytes
    request_hash: bytes  # EIP-712 hashStruct of the client's InferenceRequest
    sig_r: bytes
    sig_s: bytes
    sig_v: int
    client_slot: int
    client_prev: int
    client_cum: int
    operator_slot: int
    operator_prev: int
    operator_cum: int

    def values(self) -> tuple[int | bytes, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def hash(self) -> bytes:
        return _item_hash(abi_words(self.values()))

    def owner(self, side: int) -> bytes:
        return self.client if side == 0 else self.operator

    def prev(self, side: int) -> int:
        return self.client_prev if side == 0 else self.operator_prev

    def cum(self, side: int) -> int:
        return self.client_cum if side == 0 else self.operator_cum

    def slot(self, side: int) -> int:
        return self.client_slot if side == 0 else self.operator_slot

    def amount(self, side: int, operator_bps: int) -> int:
        return self.fee if side == 0 else self.fee * operator_bps // BPS

    @property
    def signature(self) -> bytes:
        return self.sig_r + self.sig_s + bytes([self.sig_v])


@dataclass(frozen=True, slots=True)
class Account:
    """One account's totals in a batch (BatchLeaves.Account, in its field order)."""

    slot: int
    account: bytes
    debit: int
    credit: int
    last_debit: int
    last_credit: int
    debit_cum: int
    credit_cum: int

    def values(self) -> tuple[int | bytes, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def hash(self) -> bytes:
        return _item_hash(abi_words(self.values()))

    def total(self, side: int) -> int:
        return self.debit if side == 0 else self.credit

    def last(self, side: int) -> int:
        return self.last_debit if side == 0 else self.last_credit


@dataclass(frozen=True, slots=True)
class Debit:
    """A receipt to settle: who pays whom how much, and the client's signed authorization."""

    receipt_hash: bytes
    request_hash: bytes
    signature: bytes  # 65 bytes r ‖ s ‖ v, the client's over the request digest
    client: bytes
    operator: bytes
    fee: int

    def __post_init__(self) -> None:
        if len(self.receipt_hash) != 32 or len(self.request_hash) != 32 or len(self.signature) != 65:
            raise ValueError("receipt and request hashes are 32 bytes, the signature 65")
        if len(self.client) != 20 or len(self.operator) != 20:
            raise ValueError("client and operator are 20-byte addresses")
        if not 0 <= self.fee <= MAX_FEE:
            raise ValueError("need 0 <= fee < 2^96")


def canonical_signature(signature: bytes) -> bytes | None:
    """`signature` as ecrecover and OpenZeppelin's ECDSA accept it (r ‖ s ‖ v, v in {27, 28}, s in the lower half
    of the group order), None when it has no such form."""
    if len(signature) != 65:
        return None
    v = signature[64] + 27 if signature[64] < 2 else signature[64]
    s = int.from_bytes(signature[32:64], "big")
    if v not in (27, 28) or not 0 < s <= requests.SECP256K1_N // 2:
        return None
    return signature[:64] + bytes([v])


def debit_of(final: types_pb2.FinalizedReceipt, operator: bytes | None) -> Debit:
    """The debit a finalized receipt settles as, crediting `operator` (the registered operator of the node its
    route names): its certificate is VALID and cites it (ax0n.spec.settlement.check_final), its client signed
    the request it answers, whose id, client and fee cap it repeats, and it charges at most that cap.
    settlement.Unsettleable otherwise."""
    digest = settlement.check_final(final)
    r, req = final.receipt, final.request
    if operator is None:
        raise settlement.Unsettleable(f"receipt signer 0x{bytes(r.node_id).hex()} has no single active operator")
    try:
        requests.verify(req)
    except (ValueError, requests.InvalidSignature) as exc:
        raise settlement.Unsettleable(f"request not signed by its client: {exc}") from exc
    if bytes(req.request_id) != bytes(r.request_id) or bytes(req.client) != bytes(r.client):
        raise settlement.Unsettleable("receipt does not answer this request")
    signature = canonical_signature(bytes(req.signature))
    if signature is None:
        raise settlement.Unsettleable("request signature is not in canonical (low-s) form")
    try:
        fee, cap = fees.amount(r.fee, "receipt.fee"), fees.amount(req.fee_cap, "request.fee_cap")
    except ValueError as exc:
        raise settlement.Unsettleable(str(exc)) from exc
    if r.fee_cap != req.fee_cap or fee > cap or fee > MAX_FEE:
        raise settlement.Unsettleable("receipt charges over the fee cap its client signed")
    return Debit(digest, requests.struct_hash(req), signature, bytes(r.client), operator, fee)


# -- trees -------------------------------------------------------------------------------------------------------


def _parent(a: bytes, b: bytes) -> bytes:
    return keccak(a + b if a < b else b + a)


def tree_levels(hashes: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the sorted-pair tree over `hashes`, leaves first (an odd last node moves up as it is)."""
    if not hashes:
        raise ValueError("a tree needs at least one leaf")
    level = list(hashes)
    levels = [level]
    while len(level) > 1:
        nxt = [_parent(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        levels.append(level)
    return levels


def proof(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The sibling hashes from item `index` up to the root (MerkleProof.verify's proof)."""
    out = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            out.append(level[sibling])
        index //= 2
    return out


def verify(path: Sequence[bytes], root: bytes, item: bytes) -> bool:
    node = item
    for sibling in path:
        node = _parent(node, sibling)
    return node == root


# -- building a batch --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """What the batch committee signs (BatchLedger.Header)."""

    batch_id: int
    leaf_root: bytes
    account_root: bytes
    count: int
    accounts: int
    fee_total: int
    operator_total: int
    operator_bps: int  # the operator share the credits were computed under

    def values(self) -> tuple[int | bytes, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def hash(self) -> bytes:
        """BatchLedger.headerHash: keccak256 of the header's ABI encoding without the batch id, the root that
        batch_signing_root binds beside the id (so it follows from the receipts alone)."""
        return keccak(abi_words(self.values()[1:]))


@dataclass(frozen=True)
class Batch:
    """Batch `batch_id` over `leaves` and `accounts`, under `operator_bps`."""

    batch_id: int
    leaves: tuple[Leaf, ...]
    accounts: tuple[Account, ...]
    operator_bps: int

    @cached_property
    def leaf_levels(self) -> list[list[bytes]]:
        return tree_levels([x.hash() for x in self.leaves])

    @cached_property
    def account_levels(self) -> list[list[bytes]]:
        return tree_levels([a.hash() for a in self.accounts])

    @cached_property
    def header(self) -> Header:
        last = self.accounts[-1]
        return Header(
            self.batch_id,
            self.leaf_levels[-1][0],
            self.account_levels[-1][0],
            len(self.leaves),
            len(self.accounts),
            last.debit_cum,
            last.credit_cum,
            self.operator_bps,
        )

    def leaf_proof(self, index: int) -> list[bytes]:
        return proof(self.leaf_levels, index)

    def account_proof(self, slot: int) -> list[bytes]:
        return proof(self.account_levels, slot)

    def slot_of(self, account: bytes) -> int | None:
        for a in self.accounts:
            if a.account == account:
                return a.slot
        return None


def build(batch_id: int, debits: Sequence[Debit], operator_bps: int) -> Batch:
    """The batch settling `debits` in order: leaves with their chains and running totals, entries sorted by
    address. Raises ValueError on an empty batch or a request debited twice."""
    if not debits:
        raise ValueError("a batch holds at least one receipt")
    if len({(d.request_hash, d.client) for d in debits}) != len(debits):
        raise ValueError("a request is debited twice in one batch")
    addresses = sorted({d.client for d in debits} | {d.operator for d in debits})
    slot = {a: i for i, a in enumerate(addresses)}
    last: list[dict[bytes, int]] = [{}, {}]  # side -> account -> 1 + index of its latest leaf
    running: list[dict[bytes, int]] = [{}, {}]
    leaves = []
    for i, d in enumerate(debits):
        links = []
        for side, (who, amount) in enumerate(((d.client, d.fee), (d.operator, d.fee * operator_bps // BPS))):
            prev = last[side].get(who, 0)
            running[side][who] = running[side].get(who, 0) + amount
            last[side][who] = i + 1
            links.append((slot[who], prev, running[side][who]))
        sig = d.signature
        leaves.append(
            Leaf(
                i,
                d.client,
                d.operator,
                d.fee,
                d.receipt_hash,
                d.request_hash,
                sig[:32],
                sig[32:64],
                sig[64],
                *links[0],
                *links[1],
            )
        )
    accounts = []
    debit_cum = credit_cum = 0
    for a in addresses:
        debit, credit = running[0].get(a, 0), running[1].get(a, 0)
        debit_cum += debit
        credit_cum += credit
        accounts.append(Account(slot[a], a, debit, credit, last[0].get(a, 0), last[1].get(a, 0), debit_cum, credit_cum))
    return Batch(batch_id, tuple(leaves), tuple(accounts), operator_bps)


# -- fraud predicates (BatchLeaves.sol) --------------------------------------------------------------------------


def leaf_fault(leaf: Leaf, header: Header, operator_bps: int, chain_id: int, request_domain: bytes) -> bool:
    """An index or slot past the counts, a debit its client did not sign, or a chain pointing forward or starting wrong."""
    if leaf.index >= header.count or max(leaf.client_slot, leaf.operator_slot) >= header.accounts:
        return True
    digest = keccak(b"\x19\x01" + requests.domain_separator(chain_id, request_domain) + leaf.request_hash)
    if canonical_signature(leaf.signature) != leaf.signature:
        return True
    try:
        if requests.recover_digest(leaf.signature, digest) != leaf.client:
            return True
    except requests.InvalidSignature:
        return True
    for side in (0, 1):
        p = leaf.prev(side)
        if p > leaf.index or (p == 0 and leaf.cum(side) != leaf.amount(side, operator_bps)):
            return True
    return False


def overcharged(leaf: Leaf, struct_hash: bytes, fee_cap: int) -> bool:
    """A fee above the cap of the request (with hashStruct `struct_hash`) the leaf's signature covers."""
    return struct_hash == leaf.request_hash and leaf.fee > fee_cap


def link_fault(leaf: Leaf, prev: Leaf, side: int, operator_bps: int) -> bool:
    if leaf.prev(side) != prev.index + 1:
        return False
    return prev.owner(side) != leaf.owner(side) or prev.cum(side) + leaf.amount(side, operator_bps) != leaf.cum(side)


def pair_fault(a: Leaf, b: Leaf) -> bool:
    if a.hash() == b.hash():
        return False
    if a.index == b.index or (a.request_hash == b.request_hash and a.client == b.client):
        return True
    return (a.client == b.client and a.client_prev == b.client_prev) or (
        a.operator == b.operator and a.operator_prev == b.operator_prev
    )


def entry_fault(leaf: Leaf, entry: Account, side: int) -> bool:
    if leaf.slot(side) == entry.slot and (entry.account != leaf.owner(side) or leaf.prev(side) == entry.last(side)):
        return True
    if entry.last(side) == leaf.index + 1:
        return entry.account != leaf.owner(side) or entry.total(side) != leaf.cum(side)
    return False


def account_fault(entry: Account, header: Header) -> bool:
    if entry.slot >= header.accounts or entry.last_debit > header.count or entry.last_credit > header.count:
        return True
    if (entry.last_debit == 0 and entry.debit) or (entry.last_credit == 0 and entry.credit):
        return True
    if entry.slot == 0 and (entry.debit_cum != entry.debit or entry.credit_cum != entry.credit):
        return True
    last = entry.slot + 1 == header.accounts
    return last and (entry.debit_cum != header.fee_total or entry.credit_cum != header.operator_total)


def account_pair_fault(a: Account, b: Account) -> bool:
    if a.hash() == b.hash():
        return False
    if a.slot == b.slot:
        return True
    if a.slot + 1 != b.slot:
        return False
    return a.account >= b.account or a.debit_cum + b.debit != b.debit_cum or a.credit_cum + b.credit != b.credit_cum


@dataclass(frozen=True, slots=True)
class Fault:
    """A provable fault: the OptimisticSettlement challenge that proves it, the side (0 debit, 1 credit) where the
    challenge takes one, and the positions in the batch's leaf and entry lists of the items it shows (in the
    challenge's argument order: leaves first)."""

    challenge: str
    leaves: tuple[int, ...] = ()
    accounts: tuple[int, ...] = ()
    side: int | None = None


def find_fault(batch: Batch, chain_id: int, request_domain: bytes) -> Fault | None:
    """The first fault a watcher holding every leaf and entry of `batch` can prove (None: the batch is sound).
    Linear in the batch: chains are followed by index and slot."""
    h, bps = batch.header, batch.operator_bps
    at_index: dict[int, int] = {}
    requests_at: dict[tuple[bytes, bytes], int] = {}
    heads: dict[tuple[int, bytes, int], int] = {}
    for pos, leaf in enumerate(batch.leaves):
        if leaf_fault(leaf, h, bps, chain_id, request_domain):
            return Fault("challengeLeaf", (pos,))
        other = at_index.get(leaf.index, requests_at.get((leaf.request_hash, leaf.client)))
        if other is not None:
            return Fault("challengeLeafPair", (pos, other))
        for side in (0, 1):
            key = (side, leaf.owner(side), leaf.prev(side))
            if key in heads:
                return Fault("challengeLeafPair", (pos, heads[key]))
            heads[key] = pos
        at_index[leaf.index] = pos
        requests_at[(leaf.request_hash, leaf.client)] = pos
    at_slot: dict[int, int] = {}
    for pos, entry in enumerate(batch.accounts):
        if entry.slot in at_slot:
            return Fault("challengeAccountPair", accounts=(pos, at_slot[entry.slot]))
        at_slot[entry.slot] = pos
    for pos, leaf in enumerate(batch.leaves):
        for side in (0, 1):
            p = at_index.get(leaf.prev(side) - 1)
            if p is not None and link_fault(leaf, batch.leaves[p], side, bps):
                return Fault("challengeLink", (pos, p), side=side)
            e = at_slot.get(leaf.slot(side))
            if e is not None and entry_fault(leaf, batch.accounts[e], side):
                return Fault("challengeEntry", (pos,), (e,), side)
    for pos, entry in enumerate(batch.accounts):
        if account_fault(entry, h):
            return Fault("challengeAccount", accounts=(pos,))
        for side in (0, 1):
            tail = at_index.get(entry.last(side) - 1)
            if tail is not None and entry_fault(batch.leaves[tail], entry, side):
                return Fault("challengeEntry", (tail,), (pos,), side)
        nxt = at_slot.get(entry.slot + 1)
        if nxt is not None and account_pair_fault(entry, batch.accounts[nxt]):
            return Fault("challengeAccountPair", accounts=(pos, nxt))
    return None
