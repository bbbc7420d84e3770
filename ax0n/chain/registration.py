"""Node registration proofs: a receipt signing key proves possession before NodeRegistry.register binds it.

The key signs, as an EIP-191 personal message, NodeRegistry.signingKeyMessage(operator) =
keccak256(abi.encode("ax0n/signing-key/v1", operator, chain id, registry address)), so a proof registers that
key for one operator on one registry of one chain; a key already registered by any operator is refused
(SigningKeyTaken).
"""

from __future__ import annotations

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

SIGNING_KEY_TAG = b"ax0n/signing-key/v1".ljust(32, b"\0")


def signing_key_message(operator: str, chain_id: int, registry: str) -> bytes:
    """The 32 bytes NodeRegistry.signingKeyMessage(operator) returns on `chain_id` at `registry`."""
    return keccak(
        encode(
            ["bytes32", "address", "uint256", "address"],
            [SIGNING_KEY_TAG, to_checksum_address(operator), chain_id, to_checksum_address(registry)],
        )
    )


def signing_key_proof(signing_key: str | bytes, operator: str, chain_id: int, registry: str) -> bytes:
    """The signing key's (private key `signing_key`) 65-byte proof for NodeRegistry.register by `operator`."""
    message = encode_defunct(primitive=signing_key_message(operator, chain_id, registry))
    return bytes(Account.sign_message(message, signing_key).signature)
