"""Batch committee certificates: the BLS aggregate over a batch's signing root that Settlement.submitBatch checks.

Settlement takes `Certificate(committee, signers, signature)`: min(validator_quorum_size, registered validator
keys) distinct registered validators in ascending address order, a signer bitmap over them (≥ 2/3 set) and
the aggregate signature (EIP-2537 G2 encoding) over `batch_signing_root(batch_id, root, chain_id)`
(`ax0n.certificate`, docs/meshsync.md). The production source of certificates is the validators' SignBatch
(MeshSync), which is not served yet; `LocalCommittee` signs with validator keys this process holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from eth_utils import to_checksum_address

from ax0n import bls
from ax0n.certificate import batch_signing_root
from ax0n.chain.batch import certificate_args
from ax0n_settler.chain import Certificate
from ax0n_settler.plan import batch_id


class BatchCommittee(Protocol):
    def certify(self, seq: int, root: int, chain_id: int) -> Certificate:
        """The committee's certificate for batch `seq` with `root` on chain `chain_id`."""


class LocalCommittee:
    """Signs as a committee of validators whose BLS secret keys this process holds (devnet and tests only: a
    settler holding the committee's keys makes the committee's check meaningless)."""

    def __init__(self, keys: Mapping[str, bls.SecretKey]) -> None:
        if not keys:
            raise ValueError("a committee needs at least one key")
        self.keys = {to_checksum_address(a): k for a, k in keys.items()}

    @classmethod
    def from_dir(cls, path: str | Path) -> LocalCommittee:
        """`<validator address>.key` files, each holding a hex BLS secret key."""
        files = sorted(Path(path).glob("*.key"))
        return cls({f.stem: bls.secret_from_bytes(bytes.fromhex(f.read_text().strip())) for f in files})

    def certify(self, seq: int, root: int, chain_id: int) -> Certificate:
        message = batch_signing_root(batch_id(seq), root.to_bytes(32, "big"), chain_id)
        members = list(self.keys)
        signature = bls.sign_many(list(self.keys.values()), message)
        committee, signers, sig = certificate_args(members, range(len(members)), signature)
        return list(committee), signers, sig
