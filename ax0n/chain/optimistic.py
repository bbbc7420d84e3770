"""OptimisticSettlement call arguments from ax0n.spec.batch values: headers, leaves and entries as the ABI tuples
web3 passes (addresses checksummed), and the committee's signing root of a header."""

from __future__ import annotations

from eth_utils import to_checksum_address

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
