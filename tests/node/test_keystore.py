"""The node keystore: encrypted at rest, opened only with the password."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from ax0n_tools.node import keystore

KEY = "0x" + "11" * 32


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keystore, "SCRYPT_N", 2**12)  # the format is the same; only the cost differs


def test_key_is_encrypted_at_rest_and_unlocks_with_the_password(tmp_path: Path) -> None:
    account = keystore.create(tmp_path, "correct horse", KEY)
    path = tmp_path / keystore.KEYSTORE_FILE
    raw = path.read_text()
    assert KEY[2:] not in raw.lower()
    params = json.loads(raw)["crypto"]
    assert params["kdf"] == "scrypt" and params["kdfparams"]["n"] == 2**12
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keystore.address(tmp_path) == account.address
    assert keystore.unlock(tmp_path, "correct horse").key.hex() == KEY[2:]


def test_wrong_password_and_missing_keystore_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(keystore.KeystoreError, match="run `axon-node init` first"):
        keystore.unlock(tmp_path, "whatever1")
    keystore.create(tmp_path, "correct horse")
    with pytest.raises(keystore.KeystoreError, match="wrong password"):
        keystore.unlock(tmp_path, "incorrect horse")


def test_existing_keystore_is_never_overwritten_silently(tmp_path: Path) -> None:
    first = keystore.create(tmp_path, "correct horse")
    with pytest.raises(keystore.KeystoreError, match="--force"):
        keystore.create(tmp_path, "correct horse")
    assert keystore.address(tmp_path) == first.address
    second = keystore.create(tmp_path, "correct horse", force=True)
    assert keystore.address(tmp_path) == second.address != first.address


def test_bad_inputs_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(keystore.KeystoreError, match="at least 8"):
        keystore.create(tmp_path, "short")
    with pytest.raises(keystore.KeystoreError, match="not a valid secp256k1 private key"):
        keystore.create(tmp_path, "correct horse", "0x1234")
