"""The keys one validator process holds (like an Ethereum validator client, it may hold many)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ax0n.spec import bls


class Keystore(Mapping[bytes, bls.SecretKey]):
    """Secret keys by public key (48-byte compressed G1)."""

    def __init__(self, secrets: Iterable[bls.SecretKey]) -> None:
        self._keys = {bls.public_key(sk): sk for sk in secrets}

    @classmethod
    def from_dir(cls, path: Path) -> Keystore:
        """One hex-encoded 32-byte secret key per `*.key` file (mode 0600 expected)."""
        return cls(bls.secret_from_bytes(bytes.fromhex(p.read_text().strip())) for p in sorted(path.glob("*.key")))

    @classmethod
    def derive(cls, seed: bytes, count: int, start: int = 0) -> Keystore:
        """`count` keys from one seed (devnet and tests): keygen(sha256(seed || index))."""
        return cls(
            bls.keygen(hashlib.sha256(seed + i.to_bytes(8, "big")).digest()) for i in range(start, start + count)
        )

    def __getitem__(self, pubkey: bytes) -> bls.SecretKey:
        return self._keys[pubkey]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def registrations(self) -> list[tuple[bytes, bytes]]:
        """(public key, proof of possession) pairs, as the registry takes them."""
        return [(pk, bls.prove_possession(sk)) for pk, sk in self._keys.items()]
