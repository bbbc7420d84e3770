"""Confirmed event reading across a reorg (anvil snapshot/revert replaces blocks)."""

from __future__ import annotations

from ax0n_tools.devnet.anvil import Anvil

from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest
from ax0n.chain.events import EventReader
from ax0n.spec.params import TOKEN


def test_confirmations_and_reorg(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    owner = Signer.from_key(w3, anvil.accounts[0].key)
    token = manifest.contract(w3, "Ax0nToken")
    settlement = manifest.contract(w3, "Settlement")
    owner.transact(token.functions.approve(settlement.address, 100 * TOKEN))
    reader = EventReader(settlement.events.Deposited(), confirmations=2, from_block=w3.eth.block_number + 1)

    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    owner.transact(settlement.functions.deposit(1 * TOKEN))
    assert reader.poll().events == []  # not yet 2 blocks deep
    anvil.mine(2)
    first = reader.poll()
    assert [e["args"]["amount"] for e in first.events] == [1 * TOKEN]
    assert first.rolled_back_to is None
    reorged_block = first.events[0]["blockNumber"]

    w3.provider.make_request("evm_revert", [snapshot])  # the deposit's block is replaced
    owner.transact(settlement.functions.deposit(2 * TOKEN))
    anvil.mine(3)
    second = reader.poll()
    assert second.rolled_back_to is not None and second.rolled_back_to <= reorged_block
    assert [e["args"]["amount"] for e in second.events] == [2 * TOKEN]
    assert reader.poll().events == []
