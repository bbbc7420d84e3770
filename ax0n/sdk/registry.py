"""The chain as a verifying client's registry: validator sets at snapshot blocks and node operators (NodeRegistry).

    registry = ChainRegistry(Web3(HTTPProvider(rpc_url)), Manifest.load("deployment.json"))
    Verifier(validator_sets=registry.validator_sets, operator_of=registry.operator_of, ...)

Both read `ax0n.chain.snapshot.read_state`, as the validators do when they build their committees, so a
certificate verifies here exactly when it verifies for them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from web3 import Web3

from ax0n.chain.deploy import Manifest
from ax0n.chain.snapshot import ChainState, read_state
from ax0n.spec.committee import Validator


class ChainRegistry:
    """Registry reads for `ax0n.sdk.Verifier`, cached per block (a mined block's state never changes)."""

    def __init__(self, w3: Web3, manifest: Manifest) -> None:
        self.w3, self.manifest = w3, manifest

    @functools.lru_cache(maxsize=32)  # noqa: B019 - one long-lived instance per client
    def state(self, block: int) -> ChainState:
        return read_state(self.w3, self.manifest, block)

    def validator_sets(self, block: int) -> tuple[bytes, Sequence[Validator]] | None:
        """The validator set at `block` (None for a block not mined yet)."""
        if block > self.w3.eth.block_number:
            return None
        state = self.state(block)
        return state.block_hash, [Validator(v.pubkey, v.stake) for v in state.validators]

    def operator_of(self, signer: bytes) -> bytes:
        """The operator whose node signs with `signer` (20 bytes) now; `signer` itself when none registered it."""
        state = self.state(self.w3.eth.block_number)
        return next((n.operator for n in state.nodes if n.signing_key == bytes(signer)), bytes(signer))
