"""The settlement state machine: build batches from the journal's queue and drive each one onto L1 exactly once.

`Settler.tick()` is idempotent and restartable: all state is in the journal (Redis) and on-chain, so a
fresh Settler over the same journal and chain continues where a crashed one stopped. See docs/settler.md.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry import trace
from web3.exceptions import ContractCustomError, ContractLogicError

from ax0n.chain.batch import Batch, submission
from ax0n.runtime import telemetry
from ax0n.spec.params import Params
from ax0n.spec.settlement import BatchPlan, Leaf, Unsettleable, leaf_of, tree_size
from ax0n_settler.chain import Fees, SettlementChain, stale_certificate, unpayable
from ax0n_settler.committee import BatchCommittee, CommitteeRefused, CommitteeUnavailable
from ax0n_settler.journal import BatchRecord, Journal, Queued, SentTx, State, Taken
from ax0n_settler.metrics import BATCH_EVENTS, PROVE_SECONDS, RECEIPTS
from ax0n_settler.prover import BatchProver

log = logging.getLogger(__name__)

CrashHook = Callable[[str, int], None]


class ConflictingBatch(RuntimeError):
    """The chain settled this batch id with another root: another writer shares the settlement account."""


@dataclass(frozen=True, slots=True)
class Policy:
    confirmations: int = 2  # blocks, counting the settling block, before a batch is confirmed
    bump_after_s: float = 60.0  # replace a transaction still unmined after this long
    bump_factor: float = 1.125  # fee multiplier of a replacement (nodes require at least +10 %)
    reorg_horizon: int = 64  # blocks a confirmed batch stays watched for reorgs


def _no_crash(point: str, seq: int) -> None:
    return None


class Settler:
    """Builds, proves, submits and confirms batches for one Settlement deployment."""

    def __init__(
        self,
        journal: Journal,
        chain: SettlementChain,
        prover: BatchProver,
        committee: BatchCommittee,
        params: Params,
        policy: Policy = Policy(),
        crash: CrashHook = _no_crash,
    ) -> None:
        self.journal, self.chain, self.prover, self.committee = journal, chain, prover, committee
        self.params, self.policy = params, policy
        self.size = tree_size(params.max_batch_size)
        self.crash = crash
        journal.bind(chain.chain_id, chain.address, first_seq=chain.last()[0] + 1)

    def plan(self, seq: int, leaves: list[Leaf]) -> BatchPlan:
        return BatchPlan(seq, tuple(leaves), self.size, self.params)

    def record_plan(self, rec: BatchRecord) -> BatchPlan:
        return self.plan(rec.seq, rec.leaves)

    # one pass ------------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Advance every open batch as far as the chain allows, then build the next batch if it is due."""
        self.advance()
        if self.build() is not None:
            self.advance()

    def build(self) -> int | None:
        """Take queued receipts into a new batch when one is due (full, or the settlement interval passed)."""
        for seq in self.journal.open_batches():
            rec = self.journal.get(seq)
            if rec is not None and rec.state in (State.BUILT, State.PROVED, State.SIGNED, State.SENT):
                return None  # one unsettled batch at a time: Settlement takes them strictly in order
        limit = self.params.max_batch_size
        queued = self.journal.pending(limit)
        if not queued:
            return None
        last_id, last_block = self.chain.last()
        due = last_id == 0 or self.chain.head() + 1 >= last_block + self.chain.frequency()
        if len(queued) < limit and not due:
            return None

        operators = functools.cache(self.chain.operator_of)
        outcome: list[Taken] = []  # the committed attempt's (create retries `take` on a concurrent write)

        def take(seq: int, entries: list[Queued], assigned: set[bytes]) -> Taken:
            leaves: dict[bytes, Leaf] = {}
            rejected = []
            for q in entries:
                final = q.receipt
                rid = bytes(final.receipt.request_id)
                if rid in assigned or rid in leaves:
                    continue
                try:
                    leaves[rid] = leaf_of(final, operators(bytes(final.receipt.node_id)))
                except Unsettleable as exc:
                    rejected.append((final, str(exc)))
            plan = self.plan(seq, list(leaves.values())) if leaves else None
            outcome[:] = [Taken(list(plan.leaves), plan.root, rejected) if plan else Taken([], 0, rejected)]
            return outcome[0]

        links = [trace.Link(trace.get_current_span(telemetry.extract(q.carrier)).get_span_context()) for q in queued]
        with telemetry.tracer().start_as_current_span("settler build batch", links=links) as span:
            seq = self.journal.create(take, limit)
            span.set_attribute("ax0n.batch_seq", seq or 0)
        if outcome:
            RECEIPTS.labels("batched").inc(len(outcome[0].leaves))
            RECEIPTS.labels("rejected").inc(len(outcome[0].rejected))
        if seq is not None:
            BATCH_EVENTS.labels("built").inc()
            log.info("built batch %d", seq)
            self.crash("built", seq)
        return seq

    def advance(self) -> None:
        for seq in self.journal.open_batches():
            rec = self.journal.get(seq)
            if rec is None or not self._advance(rec):
                break  # later batches wait for this one
        head = self.chain.head()
        for seq in self.journal.watched():
            rec = self.journal.get(seq)
            if rec is not None:
                self._watch(rec, head)

    # per state -----------------------------------------------------------------------------------------
    def _advance(self, rec: BatchRecord) -> bool:
        """Move `rec` forward; True when it is on-chain (mined or confirmed) so the next batch may proceed."""
        if rec.state == State.BUILT:
            with (
                telemetry.tracer().start_as_current_span("settler prove batch", attributes={"ax0n.batch_seq": rec.seq}),
                PROVE_SECONDS.time(),
            ):
                envelope = self.prover.prove(self.record_plan(rec))
            self.journal.proved(rec.seq, envelope, self.prover.circuit_id)
            BATCH_EVENTS.labels("proved").inc()
            self.crash("proved", rec.seq)
            rec.state, rec.proof = State.PROVED, envelope
        if rec.state == State.PROVED:
            with telemetry.tracer().start_as_current_span(
                "settler certify batch", attributes={"ax0n.batch_seq": rec.seq}
            ):
                finals = self.journal.finals([leaf.request_id for leaf in rec.leaves])
                try:
                    rec.cert = self.committee.certify(rec.seq, rec.root, self.chain.chain_id, finals)
                except CommitteeUnavailable as exc:
                    log.warning("%s; asking again next pass", exc)
                    return False
                except CommitteeRefused as exc:
                    self._evict(rec, exc.request_ids, str(exc))
                    return False
            self.journal.signed(rec.seq, rec.cert)
            BATCH_EVENTS.labels("signed").inc()
            self.crash("signed", rec.seq)
            rec.state = State.SIGNED
        if rec.state == State.SIGNED:
            return self._send(rec)
        if rec.state == State.SENT:
            return self._check_sent(rec)
        if rec.state == State.MINED:
            return self._check_mined(rec)
        return True

    def _adopt_settled(self, rec: BatchRecord) -> bool:
        """If the chain already settled this batch (with our root), record that instead of sending again."""
        settled = self.chain.settled(rec.seq)
        if not settled.block:
            return False
        if settled.root != rec.root:
            raise ConflictingBatch(f"batch {rec.seq} settled on-chain with root {settled.root:#x}, ours {rec.root:#x}")
        tx_hash = self.chain.settlement_tx(rec.seq, settled.block)
        self.journal.mined(rec.seq, tx_hash, settled.block, self.chain.block_hash(settled.block) or "")
        BATCH_EVENTS.labels("adopted").inc()
        rec.state = State.MINED
        log.info("batch %d was already settled in block %d", rec.seq, settled.block)
        return True

    def _send(self, rec: BatchRecord) -> bool:
        if self._adopt_settled(rec):
            return self._check_mined(self.journal.get(rec.seq) or rec)
        if not self._sendable(rec.seq):
            return False
        batch, proof = submission(self.record_plan(rec), rec.proof)
        try:
            gas = self.chain.estimate(batch, proof, rec.cert)
        except ContractCustomError as exc:
            culprit = unpayable(exc)
            if culprit is not None:
                self._drop(rec, *culprit)
            elif stale_certificate(exc):
                log.warning("batch %d: Settlement refuses its certificate (%s); certifying again", rec.seq, exc.data)
                self.journal.uncertify(rec.seq)
                BATCH_EVENTS.labels("recertify").inc()
            else:
                log.warning("batch %d would revert, not sending: %s", rec.seq, exc)
            return False
        except ContractLogicError as exc:
            log.warning("batch %d would revert, not sending: %s", rec.seq, exc)
            return False
        with self.chain.sending() as nonce:
            self._sign_and_send(rec, batch, proof, nonce, self.chain.fees(), gas * 6 // 5)
        return False

    def _drop(self, rec: BatchRecord, kind: str, account: bytes) -> None:
        """Rebuild `rec` without the receipts of an operator Settlement will not credit (inactive) or a client
        it cannot debit (escrow short); they go to the rejected stream."""
        reason = f"Settlement refused {kind} {account.hex()}: " + ("inactive" if kind == "operator" else "escrow short")
        self._rebuild(
            rec, [x for x in rec.leaves if (x.operator if kind == "operator" else x.client) == account], reason
        )

    def _evict(self, rec: BatchRecord, request_ids: frozenset[bytes], reason: str) -> None:
        """Rebuild `rec` without the receipts the batch committee refused as not final (all of them when it named
        none): they go to the rejected stream and are never asked for again."""
        dropped = [x for x in rec.leaves if x.request_id in request_ids] or list(rec.leaves)
        self._rebuild(rec, dropped, f"batch committee refused it: {reason}")

    def _rebuild(self, rec: BatchRecord, dropped: list[Leaf], reason: str) -> None:
        """Rebuild `rec` without `dropped`, which go to the rejected stream with `reason`."""
        kept = [x for x in rec.leaves if x not in dropped]
        root = self.plan(rec.seq, kept).root if kept else 0
        self.journal.rebuild(rec.seq, kept, root, [(x, reason) for x in dropped])
        BATCH_EVENTS.labels("rebuilt").inc()
        RECEIPTS.labels("rejected").inc(len(dropped))
        log.warning("batch %d: %s; rebuilt without its %d receipts", rec.seq, reason, len(dropped))

    def _sendable(self, seq: int) -> bool:
        """Whether Settlement would take batch `seq` in the next block (its turn, and the interval passed)."""
        last_id, last_block = self.chain.last()
        if seq != last_id + 1:
            return False
        return not last_id or self.chain.head() + 1 >= last_block + self.chain.frequency()

    def _sign_and_send(self, rec: BatchRecord, batch: Batch, proof: bytes, nonce: int, fees: Fees, gas: int) -> None:
        assert rec.cert is not None
        tx_hash, raw = self.chain.sign(batch, proof, rec.cert, nonce, fees, gas)
        self.journal.record_tx(rec.seq, SentTx(tx_hash, nonce, fees.max_fee, fees.tip, gas, raw, time.time()))
        self.crash("recorded", rec.seq)
        self.chain.broadcast(raw)
        BATCH_EVENTS.labels("sent").inc()
        log.info("batch %d sent: %s nonce %d max fee %d", rec.seq, tx_hash, nonce, fees.max_fee)
        self.crash("broadcast", rec.seq)

    def _check_sent(self, rec: BatchRecord) -> bool:
        for tx in rec.txs:
            mined = self.chain.mined(tx.hash)
            if mined is None:
                continue
            self.crash("receipt", rec.seq)
            if mined.ok:
                self.journal.mined(rec.seq, mined.tx_hash, mined.block, mined.block_hash)
                BATCH_EVENTS.labels("mined").inc()
                return self._check_mined(self.journal.get(rec.seq) or rec)
            if self._adopt_settled(rec):
                return self._check_mined(self.journal.get(rec.seq) or rec)
            log.warning("batch %d: transaction %s reverted; will send again", rec.seq, tx.hash)
            self.journal.reopen(rec.seq)
            BATCH_EVENTS.labels("resent").inc()
            return False
        if self._adopt_settled(rec):
            return self._check_mined(self.journal.get(rec.seq) or rec)
        last = rec.txs[-1]
        if self.chain.nonce("latest") > last.nonce:
            log.warning("batch %d: nonce %d was used by another transaction; will send again", rec.seq, last.nonce)
            self.journal.reopen(rec.seq)
            BATCH_EVENTS.labels("resent").inc()
        elif not any(self.chain.known(tx.hash) for tx in rec.txs):
            if not self._sendable(rec.seq):
                return False  # e.g. re-mined predecessor: wait out the settlement interval
            log.info("batch %d: node lost %s; broadcasting it again", rec.seq, last.hash)
            self.chain.broadcast(last.raw)
            BATCH_EVENTS.labels("rebroadcast").inc()
        elif time.time() - last.sent_at >= self.policy.bump_after_s:
            fees = Fees(last.max_fee, last.tip).bumped(self.chain.fees(), self.policy.bump_factor)
            log.info("batch %d: %s unmined after %.0fs; replacing it", rec.seq, last.hash, self.policy.bump_after_s)
            BATCH_EVENTS.labels("bumped").inc()
            self._sign_and_send(rec, *submission(self.record_plan(rec), rec.proof), last.nonce, fees, last.gas)
        return False

    def _still_there(self, rec: BatchRecord) -> bool:
        """Whether the settling block is still canonical and still holds our batch."""
        return self.chain.block_hash(rec.block) == rec.block_hash and self.chain.settled(rec.seq).root == rec.root

    def _fell_out(self, rec: BatchRecord) -> None:
        """A reorg dropped the settling block: send our recorded transactions again, or (for a batch adopted
        from the chain, with none recorded) a new one."""
        log.warning("batch %d fell out of the chain (block %d); sending again", rec.seq, rec.block)
        if rec.txs:
            self.journal.unmine(rec.seq)
        else:
            self.journal.reopen(rec.seq)
        BATCH_EVENTS.labels("reorged").inc()

    def _check_mined(self, rec: BatchRecord) -> bool:
        if not self._still_there(rec):
            self._fell_out(rec)
            return False
        if self.chain.head() - rec.block + 1 >= self.policy.confirmations:
            self.journal.confirmed(rec.seq)
            BATCH_EVENTS.labels("confirmed").inc()
            self.crash("confirmed", rec.seq)
        return True

    def _watch(self, rec: BatchRecord, head: int) -> None:
        if not self._still_there(rec):
            self._fell_out(rec)
        elif head - rec.block >= self.policy.reorg_horizon:
            self.journal.retire(rec.seq)
