"""The challenge watcher: fault evidence from the faults stream to Settlement's challenge entry points.

It consumes `ax0n:fault` in a consumer group of its own (`challengers`). A `FaultRecord` with a counter-proof is
the prover's evidence that a node signed a zk-tier receipt whose output hash is not what the committed model
computes on the receipt's input. It becomes `Settlement.challengeZkOutput`, sent from the settler's account:
the receipt's signing key is mapped to its registered operator (NodeRegistry events), the call is estimated
(a revert no retry can cure ends the record: acknowledged when it means there is nothing left to do,
dead-lettered when Settlement refuses the evidence itself), then signed, broadcast and awaited. Transport
errors and unmined transactions are retried by the consumer group; Settlement slashes each receipt once,
so a retry after an unseen success reverts with `AlreadyChallenged` and ends there.

A `FaultRecord` with a `conflicting` receipt is the validators' aggregators' evidence that one node key signed two
different receipts for one request: it becomes `Settlement.challengeEquivocation` the same way. A fault certified
INVALID by a validator quorum (a certificate, no counter-proof, no conflicting receipt) becomes
`Settlement.challengeQuorumFault`: the validators' `SignFault` (`ValidatorCommittee.certify_fault`) each check the
record and sign its fault signing root, and their aggregate is the certificate Settlement checks. A record every
validator refuses as invalid is dead-lettered; too few signatures and a certificate Settlement rejects are retried
(validators may have been unreachable, or the validator set changed) until the receipt's slash window closes,
which is checked before the validators are asked.
Without a validator committee (no `validator_targets`) the record ends as `no_committee`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError, TransactionNotFound
from web3.logs import DISCARD
from web3.types import TxReceipt

from ax0n.chain.challenge import commitment, receipt_words, route_words
from ax0n.mempool import Entry, MalformedEntry, Mempool, Sharded
from ax0n.mempool.streams import FAULTS
from ax0n.spec import receipt as receipts
from ax0n.v1 import types_pb2
from ax0n_settler.chain import STALE_CERTIFICATE, SettlementChain, abi, error_data
from ax0n_settler.committee import CommitteeRefused, CommitteeUnavailable, FaultCommittee
from ax0n_settler.metrics import CHALLENGES

log = logging.getLogger(__name__)

CHALLENGER_GROUP = "challengers"


def _selector(signature: str) -> bytes:
    return function_signature_to_4byte_selector(signature)


# Reverts meaning there is nothing (left) to challenge: the record is done.
_FINAL = {
    _selector("AlreadyChallenged(bytes32)"): "already_challenged",
    _selector("ChallengeWindowClosed(uint256)"): "window_closed",
    _selector("OutputNotDisputed()"): "not_disputed",
}


def _error_names() -> dict[bytes, str]:
    names = {}
    for item in [*abi("Settlement"), *abi("NodeRegistry")]:  # the registry's certificate errors pass through
        if item.get("type") == "error":
            inputs = cast(list[dict[str, str]], item.get("inputs", []))
            signature = f"{item['name']}({','.join(i['type'] for i in inputs)})"
            names[_selector(signature)] = signature
    return names


class Refused(ValueError):
    """Evidence Settlement would never take (malformed, not the operator's, an invalid proof): dead-lettered."""


class Unresolved(RuntimeError):
    """The challenge transaction did not land (reverted, replaced, dropped or still pending): retried."""


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str  # slashed | already_challenged | window_closed | not_disputed | no_operator | no_committee
    detail: str
    tx_hash: str = ""
    gas_used: int = 0
    slashed: int = 0
    reward: int = 0


class Challenger:
    """Turns fault records into challengeZkOutput, challengeEquivocation and challengeQuorumFault transactions from
    the settler's account (synchronous, web3); `committee` certifies quorum faults (None: they end no_committee)."""

    def __init__(
        self,
        chain: SettlementChain,
        committee: FaultCommittee | None = None,
        *,
        receipt_timeout_s: float = 60.0,
        poll_s: float = 0.5,
    ) -> None:
        self.chain, self.committee = chain, committee
        self.receipt_timeout_s, self.poll_s = receipt_timeout_s, poll_s
        self._sent: dict[bytes, tuple[str, int]] = {}  # receipt digest -> (tx hash, nonce) awaiting its receipt
        self._errors = _error_names()

    def challenge(self, fault: types_pb2.FaultRecord) -> Outcome:
        """Challenge `fault` on-chain; raises Refused (never retry) or anything else (retry)."""
        if fault.HasField("conflicting"):
            return self._equivocation(fault.receipt, fault.conflicting)
        if not fault.HasField("counter_proof"):
            return self._quorum(fault)
        r = fault.receipt
        try:
            digest, signer = receipts.receipt_hash(r), receipts.recover(r)
        except ValueError as exc:
            raise Refused(f"malformed receipt: {exc}") from exc
        proof = bytes(fault.counter_proof.envelope)
        if r.tier != types_pb2.TIER_ZK or len(fault.true_output_hash) != 32 or len(proof) < 256:
            raise Refused("not zk-output evidence: a zk-tier receipt, a 32-byte output hash and a proof are needed")
        if digest in self._sent:  # sent by an earlier delivery: see it through first
            return self._wait(digest)
        if self.chain.contract.functions.challenged(digest).call():
            return Outcome("already_challenged", f"receipt 0x{digest.hex()} was challenged before")
        operator = self.chain.operator_of(signer)
        if operator is None:
            return Outcome("no_operator", f"no single active operator registered signing key 0x{signer.hex()}")
        call = self.chain.contract.functions.challengeZkOutput(
            Web3.to_checksum_address(operator),
            receipt_words(r),
            route_words(r),
            bytes(r.signature),
            proof[:256],
            int.from_bytes(fault.true_output_hash, "big"),
            self.chain.account.address,
        )
        return self._submit(call, digest, f"0x{digest.hex()} (operator 0x{operator.hex()})", slashes=digest)

    def _equivocation(self, first: types_pb2.Receipt, second: types_pb2.Receipt) -> Outcome:
        """challengeEquivocation: one node key signed `first` and `second`, two receipts for one request."""
        try:
            signer, other = receipts.recover(first), receipts.recover(second)
            digests = receipts.receipt_hash(first), receipts.receipt_hash(second)
        except ValueError as exc:
            raise Refused(f"malformed receipt: {exc}") from exc
        if signer != other or first.request_id != second.request_id or digests[0] == digests[1]:
            raise Refused("not an equivocation: two different receipts of one request signed by one key are needed")
        key = b"equivocation" + bytes(first.request_id)
        if key in self._sent:
            return self._wait(key)
        operator = self.chain.operator_of(signer)
        if operator is None:
            return Outcome("no_operator", f"no single active operator registered signing key 0x{signer.hex()}")
        slashed_key = Web3.keccak(abi_encode(["address", "bytes32"], [operator, bytes(first.request_id)]))
        if self.chain.contract.functions.challenged(slashed_key).call():
            return Outcome("already_challenged", f"operator 0x{operator.hex()} was slashed for this request before")
        call = self.chain.contract.functions.challengeEquivocation(
            Web3.to_checksum_address(operator),
            receipt_words(first),
            route_words(first),
            bytes(first.signature),
            receipt_words(second),
            bytes(second.signature),
            self.chain.account.address,
        )
        what = f"request 0x{bytes(first.request_id).hex()} (operator 0x{operator.hex()})"
        return self._submit(call, key, what, slashes=bytes(slashed_key))

    def _quorum(self, fault: types_pb2.FaultRecord) -> Outcome:
        """challengeQuorumFault: the receipt's quorum certified it INVALID; its validators attest that on-chain."""
        r, cert = fault.receipt, fault.certificate
        if not fault.HasField("certificate") or cert.verdict != types_pb2.VERDICT_INVALID:
            raise Refused("no evidence: a counter-proof, a conflicting receipt or an INVALID certificate is needed")
        try:
            digest, signer = receipts.receipt_hash(r), receipts.recover(r)
        except ValueError as exc:
            raise Refused(f"malformed receipt: {exc}") from exc
        if cert.receipt_hash != digest or cert.request_id != r.request_id:
            raise Refused("the certificate is for another receipt")
        if self.committee is None:
            return Outcome("no_committee", "no validator committee (validator_targets) to attest a quorum fault")
        if digest in self._sent:
            return self._wait(digest)
        if self.chain.contract.functions.challenged(digest).call():
            return Outcome("already_challenged", f"receipt 0x{digest.hex()} was challenged before")
        deadline = r.route.snapshot_block + self.chain.slash_window()
        if self.chain.head() >= deadline:  # the challenge would be mined after `deadline` at the earliest
            return Outcome("window_closed", f"receipt 0x{digest.hex()}: slash window closed at block {deadline}")
        operator = self.chain.operator_of(signer)
        if operator is None:
            return Outcome("no_operator", f"no single active operator registered signing key 0x{signer.hex()}")
        try:
            certificate = self.committee.certify_fault(fault)
        except CommitteeRefused as exc:
            raise Refused(str(exc)) from exc
        except CommitteeUnavailable as exc:
            raise Unresolved(str(exc)) from exc
        call = self.chain.contract.functions.challengeQuorumFault(
            Web3.to_checksum_address(operator),
            receipt_words(r),
            route_words(r),
            bytes(r.signature),
            certificate,
            self.chain.account.address,
        )
        what = f"0x{digest.hex()} (operator 0x{operator.hex()})"
        return self._submit(call, digest, what, retry=STALE_CERTIFICATE, slashes=digest)

    def _commit(self, slashes: bytes) -> None:
        """Make sure this account's commitment to challenge `slashes` (paying itself) is on-chain, mined before the
        challenge: Settlement pays the committed beneficiary, so a copier of the challenge gains nothing."""
        account = self.chain.account
        c = commitment(slashes, account.address)
        if self.chain.contract.functions.challengeCommitments(c).call(block_identifier="pending"):
            return
        call = self.chain.contract.functions.commitChallenge(c)
        fees = self.chain.fees()
        with self.chain.sending() as nonce:
            tx = call.build_transaction(
                {
                    "from": account.address,
                    "nonce": nonce,
                    "maxFeePerGas": fees.max_fee,
                    "maxPriorityFeePerGas": fees.tip,
                    "chainId": self.chain.chain_id,
                }
            )
            signed = account.sign_transaction(tx)
            self.chain.broadcast(signed.raw_transaction.to_0x_hex())
        tx_hash = signed.hash.to_0x_hex()
        deadline = time.monotonic() + self.receipt_timeout_s
        while (mined := self._receipt(tx_hash)) is None:
            if time.monotonic() >= deadline:
                raise Unresolved(f"challenge commitment {tx_hash} unmined after {self.receipt_timeout_s:.0f}s")
            time.sleep(self.poll_s)
        if mined["status"] != 1:
            raise Unresolved(f"challenge commitment {tx_hash} reverted")

    def _submit(
        self, call: Any, key: bytes, what: str, retry: frozenset[bytes] = frozenset(), *, slashes: bytes
    ) -> Outcome:
        """Commit to the challenge (`slashes`: what it slashes once), estimate `call` (final and refused reverts end
        here; those in `retry` raise Unresolved), then sign, broadcast and await it."""
        account = self.chain.account
        self._commit(slashes)
        try:
            gas = call.estimate_gas({"from": account.address}, block_identifier="pending")
        except ContractCustomError as exc:
            data = error_data(exc)
            kind = _FINAL.get(data[:4])
            name = self._errors.get(data[:4], f"0x{data.hex()}")
            if data[:4] in retry:
                raise Unresolved(f"Settlement rejects the certificate ({name}); collecting it again") from exc
            if kind is None:
                raise Refused(f"Settlement refuses the challenge: {name}") from exc
            return Outcome(kind, f"Settlement: {name}")
        except ContractLogicError as exc:
            raise Refused(f"Settlement refuses the challenge: {exc}") from exc
        fees = self.chain.fees()
        with self.chain.sending() as nonce:
            tx = call.build_transaction(
                {
                    "from": account.address,
                    "nonce": nonce,
                    "gas": gas * 6 // 5,
                    "maxFeePerGas": fees.max_fee,
                    "maxPriorityFeePerGas": fees.tip,
                    "chainId": self.chain.chain_id,
                }
            )
            signed = account.sign_transaction(tx)
            self._sent[key] = (signed.hash.to_0x_hex(), nonce)
            log.info("challenging %s: tx %s", what, signed.hash.to_0x_hex())
            self.chain.broadcast(signed.raw_transaction.to_0x_hex())
        return self._wait(key)

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.chain.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None

    def _wait(self, digest: bytes) -> Outcome:
        tx_hash, nonce = self._sent[digest]
        deadline = time.monotonic() + self.receipt_timeout_s
        while True:
            mined = self._receipt(tx_hash)
            if mined is None and self.chain.nonce("latest") > nonce:
                mined = self._receipt(tx_hash)  # it may have been mined between the two reads
                if mined is None:
                    del self._sent[digest]
                    raise Unresolved(f"nonce {nonce} went to another transaction; challenging again")
            if mined is not None:
                del self._sent[digest]
                if mined["status"] != 1:
                    raise Unresolved(f"challenge transaction {tx_hash} reverted; estimating again")
                return self._outcome(mined)
            if not self.chain.known(tx_hash):
                del self._sent[digest]
                raise Unresolved(f"the node dropped challenge transaction {tx_hash}; challenging again")
            if time.monotonic() >= deadline:
                raise Unresolved(f"challenge transaction {tx_hash} unmined after {self.receipt_timeout_s:.0f}s")
            time.sleep(self.poll_s)

    def _outcome(self, mined: TxReceipt) -> Outcome:
        events = self.chain.contract.events
        kinds = (events.ZkOutputChallenged, events.EquivocationChallenged, events.QuorumFaultChallenged)
        found = [e for kind in kinds for e in kind().process_receipt(mined, errors=DISCARD)]
        args = found[0]["args"]
        return Outcome(
            "slashed",
            f"operator {args['operator']} slashed {args['slashed']}, reward {args['reward']} to {args['challenger']}",
            tx_hash=mined["transactionHash"].to_0x_hex(),
            gas_used=int(mined["gasUsed"]),
            slashed=int(args["slashed"]),
            reward=int(args["reward"]),
        )


class ChallengeWatcher:
    """The service component: a consumer of the faults stream (on `pool`, closed at stop) handing each record to
    a Challenger.

    `make_challenger` runs on a worker thread at the first record (it reads the chain), and again after a
    failure to build it."""

    def __init__(
        self,
        pool: Mempool,
        make_challenger: Callable[[], Challenger],
        name: str,
        *,
        stream: str = FAULTS,
        retry_s: float = 10.0,
        max_attempts: int = 360,
        block_ms: int = 1_000,
    ) -> None:
        self.pool, self.make_challenger = pool, make_challenger
        self.challenger: Challenger | None = None
        self.consumer = Sharded(
            pool,
            stream,
            CHALLENGER_GROUP,
            name,
            types_pb2.FaultRecord,
            self.handle,
            block_ms=block_ms,
            min_idle_ms=round(retry_s * 1000),
            max_deliveries=max_attempts,
        )
        self._task: asyncio.Task[None] | None = None

    def _challenge(self, fault: types_pb2.FaultRecord) -> Outcome:
        if self.challenger is None:
            self.challenger = self.make_challenger()
        return self.challenger.challenge(fault)

    async def handle(self, entry: Entry[types_pb2.FaultRecord]) -> None:
        request = entry.message.receipt.request_id.hex()
        try:
            outcome = await asyncio.to_thread(self._challenge, entry.message)
        except Refused as exc:
            CHALLENGES.labels("refused").inc()
            raise MalformedEntry(f"not challengeable: {exc}") from exc
        except Exception:
            CHALLENGES.labels("retry").inc()
            raise
        CHALLENGES.labels(outcome.kind).inc()
        if outcome.kind == "slashed":
            log.warning("request %s: %s (tx %s, gas %d)", request, outcome.detail, outcome.tx_hash, outcome.gas_used)
        else:
            log.info("request %s: fault not challenged (%s): %s", request, outcome.kind, outcome.detail)

    async def start(self) -> None:
        self._task = asyncio.create_task(self.consumer.run(), name="challenge-watcher")

    async def stop(self) -> None:
        self.consumer.stop()
        if self._task:
            await self._task
        await self.pool.close()
