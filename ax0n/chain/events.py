"""Event readers that deliver logs only after `confirmations` blocks and notice reorgs of what they delivered.

reader = EventReader(settlement.events.BatchSettled, confirmations=2, from_block=manifest.block)
update = reader.poll()
if update.rolled_back_to is not None:   # blocks >= this were replaced: undo what came from them
    ...
for event in update.events: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web3.contract.contract import ContractEvent


@dataclass(frozen=True, slots=True)
class Update:
    events: list[Any]
    rolled_back_to: int | None = None


@dataclass
class EventReader:
    """Polls one contract event. Remembers the hash of every block it delivered (the last `memory` of them),
    so a reorg below the confirmation depth is detected and the replaced blocks are read again."""

    event: ContractEvent
    confirmations: int = 2
    from_block: int = 0
    memory: int = 256
    _next: int = field(init=False)
    _hashes: dict[int, bytes] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._next = self.from_block

    def poll(self) -> Update:
        w3 = self.event.w3
        rolled_back_to = self._rewind_if_reorged()
        head = w3.eth.block_number - self.confirmations
        if head < self._next:
            return Update([], rolled_back_to)
        logs = self.event.get_logs(from_block=self._next, to_block=head)
        for number in range(max(self._next, head - self.memory + 1), head + 1):
            self._hashes[number] = bytes(w3.eth.get_block(number)["hash"])
        for number in [n for n in self._hashes if n <= head - self.memory]:
            del self._hashes[number]
        self._next = head + 1
        return Update(sorted(logs, key=lambda e: (e["blockNumber"], e["logIndex"])), rolled_back_to)

    def _rewind_if_reorged(self) -> int | None:
        """The first delivered block whose hash changed (and rewind to it), or None.

        Block hashes chain, so an unchanged newest delivered block means nothing below it changed either."""
        if not self._hashes:
            return None
        w3 = self.event.w3
        tip = w3.eth.block_number

        def same(number: int) -> bool:
            return number <= tip and bytes(w3.eth.get_block(number)["hash"]) == self._hashes[number]

        delivered = sorted(self._hashes, reverse=True)
        if same(delivered[0]):
            return None
        fork = delivered[0]
        for number in delivered[1:]:
            if same(number):
                break
            fork = number
        for number in [n for n in self._hashes if n >= fork]:
            del self._hashes[number]
        self._next = fork
        return fork
