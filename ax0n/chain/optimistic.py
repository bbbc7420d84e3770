"""OptimisticSettlement call arguments from ax0n.spec.batch values: headers, leaves and entries as the ABI tuples
web3 passes (addresses checksummed), the committee's signing root of a header, and the challenge call that proves
a fault `ax0n.spec.batch.find_fault` found."""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address
from web3.contract import Contract

from ax0n.spec import batch as batches
from ax0n.spec.certificate import batch_signing_root


def _tuple(values: tuple[int | bytes, ...], addresses: tuple[int, ...]) -> tuple:
    return tuple(to_checksum_address(v) if i in addresses else v for i, v in enumerate(values))


def header_args(h: batches.Header) -> tuple:
    return h.values()


def leaf_args(leaf: batches.Leaf) -> tuple:
    return _tuple(leaf.values(), (1, 2))


def account_args(a: batches.Account) -> tuple:
    return _tuple(a.values(), (1,))


def signing_root(h: batches.Header, chain_id: int) -> bytes:
    """What the batch committee BLS-signs for `h`: batch_signing_root over (batch id, headerHash)."""
    return batch_signing_root(h.batch_id.to_bytes(32, "big"), h.hash(), chain_id)


def evidence(batch: batches.Batch, fault: batches.Fault) -> bytes:
    """The item hash a challenge of `fault` is keyed by (OptimisticSettlement.challengeKey): its first leaf's, or
    its first entry's when it shows no leaf."""
    return batch.leaves[fault.leaves[0]].hash() if fault.leaves else batch.accounts[fault.accounts[0]].hash()


def challenge_call(settlement: Contract, batch: batches.Batch, fault: batches.Fault, beneficiary: str) -> Any:
    """The OptimisticSettlement call that proves `fault` in `batch` (challengeLeaf, challengeLink, ...)."""
    args: list[Any] = [batch.batch_id]
    if fault.side is not None:
        args.append(fault.side)
    for pos in fault.leaves:
        args += [leaf_args(batch.leaves[pos]), batch.leaf_proof(pos)]
    for pos in fault.accounts:
        args += [account_args(batch.accounts[pos]), batch.account_proof(pos)]
    return getattr(settlement.functions, fault.challenge)(*args, to_checksum_address(beneficiary))
