"""Encrypted key storage (Ethereum keystore v3, scrypt): a node's signing key never lies on disk in plain text."""

from __future__ import annotations

import json
import os
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

KEYSTORE_FILE = "node-key.json"
PASSWORD_ENV = "AX0N_KEYSTORE_PASSWORD"
SCRYPT_N = 2**18  # scrypt cost, geth's default: ~1 s to open on one core


class KeystoreError(Exception):
    """A keystore that is missing, already exists, or does not open with the given password."""


def create(home: Path, password: str, private_key: str | None = None, *, force: bool = False) -> LocalAccount:
    """Encrypt `private_key` (or a new random key) under `password` into home/node-key.json (mode 0600)."""
    if len(password) < 8:
        raise KeystoreError("the keystore password must have at least 8 characters")
    path = home / KEYSTORE_FILE
    if path.exists() and not force:
        raise KeystoreError(f"{path} already exists; pass --force to replace it (the old key is then lost)")
    try:
        account = Account.from_key(private_key) if private_key else Account.create()
    except (ValueError, TypeError) as exc:
        raise KeystoreError(f"not a valid secp256k1 private key: {exc}") from exc
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    encrypted = Account.encrypt(account.key, password, kdf="scrypt", iterations=SCRYPT_N)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(encrypted, out)
    tmp.replace(path)
    return account


def address(home: Path) -> str:
    """The keystore's address, readable without the password."""
    return to_checksum_address(json.loads(_path(home).read_text())["address"])


def unlock(home: Path, password: str) -> LocalAccount:
    try:
        return Account.from_key(Account.decrypt(_path(home).read_text(), password))
    except ValueError as exc:
        raise KeystoreError(f"cannot open {_path(home)}: wrong password?") from exc


def _path(home: Path) -> Path:
    path = home / KEYSTORE_FILE
    if not path.exists():
        raise KeystoreError(f"no keystore at {path}: run `axon-node init` first")
    return path
