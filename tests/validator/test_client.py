"""Validator clients holding many keys, and the aggregator, on real signatures and real routing."""

from __future__ import annotations

import hashlib
import os

import pytest
from ax0n_validator import subcommittee
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.checks import OK, Finding, MemberChecks
from ax0n_validator.client import Quorums, ValidatorClient, draw_quorum
from ax0n_validator.keys import Keystore

from ax0n.spec import bls
from ax0n.spec import certificate as qc
from ax0n.spec import receipt as receipts
from ax0n.spec.params import MAINNET
from ax0n.v1 import types_pb2

from .helpers import CHAIN_ID, Registry
from .scenario import NODE_KEYS, Validators, checks, proved_receipt, receipt_hash


def rid(tag: str) -> bytes:
    return hashlib.sha256(tag.encode()).digest()


@pytest.fixture(scope="module")
def validators(registry: Registry) -> Validators:
    return Validators(registry)


def clients(validators: Validators, member_checks: MemberChecks | None = None, parts: int = 4) -> list[ValidatorClient]:
    return [
        ValidatorClient(ks, Quorums(validators.sets), member_checks or checks(), receipt_hash, CHAIN_ID)
        for ks in validators.keystores(parts)
    ]


def aggregator(validators: Validators) -> Aggregator:
    return Aggregator(Quorums(validators.sets), receipt_hash, CHAIN_ID)


async def attest_all(group: list[ValidatorClient], item: types_pb2.ProvedReceipt) -> list[types_pb2.Attestation]:
    out: list[types_pb2.Attestation] = []
    for client in group:
        out += await client.on_proved(item)
    return out


def run_aggregator(agg: Aggregator, item: types_pb2.ProvedReceipt, atts: list[types_pb2.Attestation]):
    outcomes = [agg.add_receipt(item)] + [agg.add_attestation(a) for a in atts]
    done = [o for o in outcomes if o is not None]
    assert len(done) <= 1
    return done[0] if done else None


async def test_clients_cover_every_seat_and_a_valid_receipt_finalizes(validators: Validators) -> None:
    item = proved_receipt(rid("valid"))
    atts = await attest_all(clients(validators), item)
    assert len(atts) == 4  # one aggregated attestation per client
    assert sorted(s for a in atts for s in qc.attestation_seats(a, 256)) == list(range(MAINNET.validator_quorum_size))
    assert {a.verdict for a in atts} == {qc.VALID}
    final = run_aggregator(aggregator(validators), item, atts)
    assert isinstance(final, types_pb2.FinalizedReceipt)
    quorum, _ = draw_quorum(validators.sets, item.receipt, MAINNET)
    seats = qc.verify_certificate(final.certificate, quorum, CHAIN_ID)
    assert len(seats) >= 171 and final.certificate.receipt_hash == receipt_hash(item.receipt)


async def test_a_rerouted_receipt_is_checked_against_its_attempt(validators: Validators) -> None:
    item = proved_receipt(rid("rerouted"), attempt=1)
    assert {a.verdict for a in await attest_all(clients(validators), item)} == {qc.VALID}
    first_choice = proved_receipt(rid("rerouted"))
    first_choice.receipt.route.attempt = 1  # claims a re-route but was served by the first choice
    signed = receipts.sign(first_choice.receipt, NODE_KEYS[first_choice.receipt.route.node_id])
    first_choice.receipt.CopyFrom(signed)
    assert {a.verdict for a in await attest_all(clients(validators), first_choice)} == {qc.INVALID}


@pytest.mark.parametrize("defect", ["node signature", "route", "impostor", "chain", "proof", "request"])
async def test_an_invalid_receipt_becomes_a_fault_record(validators: Validators, defect: str) -> None:
    item = proved_receipt(rid(f"bad {defect}"))
    if defect == "node signature":
        item.receipt.fee = "999"  # altered after signing
    elif defect in ("route", "impostor"):  # another node served it, or signed it in the routed node's name
        wrong = next(n for n in NODE_KEYS if n != item.receipt.route.node_id)
        item = proved_receipt(rid(f"bad {defect}"), **{"node_id" if defect == "route" else "signer": wrong})
    elif defect == "chain":
        item.receipt.chain_id = 1
        item.receipt.CopyFrom(receipts.sign(item.receipt, NODE_KEYS[item.receipt.route.node_id]))
    elif defect == "proof":
        item.proof.public_inputs[2] = (5).to_bytes(32, "big")
    else:
        item.request.request_id = rid("another request")
    atts = await attest_all(clients(validators), item)
    assert {a.verdict for a in atts} == {qc.INVALID}
    fault = run_aggregator(aggregator(validators), item, atts)
    assert isinstance(fault, types_pb2.FaultRecord) and fault.certificate.verdict == qc.INVALID
    assert fault.reason


async def test_a_validator_without_a_proof_check_abstains(validators: Validators) -> None:
    c = checks()
    no_proof = MemberChecks(receipt_signature=c.receipt_signature, route=c.route, answers=c.answers)
    assert await clients(validators, no_proof, parts=1)[0].on_proved(proved_receipt(rid("abstain"))) == []


def per_seat(registry: Registry, item: types_pb2.ProvedReceipt, seats, verdict: int = qc.VALID):
    quorum, _ = draw_quorum(Validators(registry).sets, item.receipt, MAINNET)
    rh = receipt_hash(item.receipt)
    return [
        qc.attest(quorum, {s: registry.secrets[quorum.members[s]]}, item.receipt.request_id, rh, verdict, CHAIN_ID)
        for s in seats
    ]


def forge(item: types_pb2.ProvedReceipt, seat: int, signature: bytes, signers: bytes = b"") -> types_pb2.Attestation:
    return types_pb2.Attestation(
        request_id=item.receipt.request_id,
        receipt_hash=receipt_hash(item.receipt),
        verdict=qc.VALID,
        committee_index=seat,
        signature=signature,
        signers=signers,
    )


async def test_85_byzantine_seats_cannot_stop_finality(validators: Validators, registry: Registry) -> None:
    item = proved_receipt(rid("byzantine"))
    honest = per_seat(registry, item, range(85, 256))
    garbage = [
        forge(item, s, os.urandom(96) if s % 2 else bls.sign(bls.keygen(os.urandom(32)), b"x")) for s in range(85)
    ]
    final = run_aggregator(aggregator(validators), item, garbage + honest)
    assert isinstance(final, types_pb2.FinalizedReceipt)
    assert final.certificate.signed_weight == "171"


async def test_forged_attestations_under_honest_seats_do_not_crowd_them_out(validators: Validators) -> None:
    item = proved_receipt(rid("crowding"))
    honest = await attest_all(clients(validators), item)
    fake = bls.sign(bls.keygen(os.urandom(32)), b"forged")
    forged = [forge(item, 0, fake, a.signers) for a in honest]  # claims each client's seats
    forged += [forge(item, s, fake) for s in range(0, 256, 3)]  # and single seats
    final = run_aggregator(aggregator(validators), item, forged + honest[:2] + honest)
    assert isinstance(final, types_pb2.FinalizedReceipt)
    quorum, _ = draw_quorum(validators.sets, item.receipt, MAINNET)
    assert len(qc.verify_certificate(final.certificate, quorum, CHAIN_ID)) >= 171


async def test_overlapping_and_malformed_attestations_are_dropped(validators: Validators, registry: Registry) -> None:
    item = proved_receipt(rid("overlap"))
    singles = per_seat(registry, item, range(256))
    quorum, _ = draw_quorum(validators.sets, item.receipt, MAINNET)
    pair = qc.attest(
        quorum,
        {s: registry.secrets[quorum.members[s]] for s in (0, 1)},
        item.receipt.request_id,
        receipt_hash(item.receipt),
        qc.VALID,
        CHAIN_ID,
    )
    agg = aggregator(validators)
    assert agg.add_receipt(item) is None
    assert agg.add_attestation(forge(item, 0, singles[0].signature, b"\xff" * 33)) is None  # bitmap too long
    assert agg.add_attestation(forge(item, 999, singles[0].signature)) is None  # seat outside the quorum
    outcomes = [agg.add_attestation(a) for a in [pair, *singles]]  # seats 0 and 1 twice: counted once
    final = next(o for o in outcomes if o is not None)
    assert final.certificate.signed_weight == "171"
    assert qc.verify_certificate(final.certificate, quorum, CHAIN_ID) == list(range(171))


async def test_attestations_may_arrive_before_the_receipt(validators: Validators) -> None:
    item = proved_receipt(rid("early"))
    atts = await attest_all(clients(validators), item)
    agg = aggregator(validators)
    assert all(agg.add_attestation(a) is None for a in atts)
    assert isinstance(agg.add_receipt(item), types_pb2.FinalizedReceipt)
    assert agg.add_receipt(item) is None and agg.add_attestation(atts[0]) is None


def output_reexecutor(expected_output: str):
    """Stands in for the executor's Reexecute RPC in these tests: compares the claimed output."""

    async def reexecute(item: types_pb2.ProvedReceipt) -> Finding:
        return OK if item.output == expected_output else Finding(False, "fingerprint mismatch")

    return reexecute


@pytest.mark.parametrize("honest_output", [True, False])
async def test_llm_tier_follows_the_signed_reexecution_outcome(validators: Validators, honest_output: bool) -> None:
    item = proved_receipt(rid(f"llm {honest_output}"), tier=types_pb2.TIER_LLM)
    if not honest_output:
        item.output = "tampered"
    c = checks()
    group = clients(
        validators, MemberChecks(c.receipt_signature, c.route, c.answers, reexecute=output_reexecutor("out"))
    )
    first = await attest_all(group, item)
    quorum, seed = draw_quorum(validators.sets, item.receipt, MAINNET)
    sub = subcommittee.seats(seed, quorum.size)
    seats_of = lambda atts: sorted(s for a in atts for s in qc.attestation_seats(a, quorum.size))  # noqa: E731
    assert set(sub) <= set(seats_of(first))
    rest = [a for client in group for att in first for a in await client.on_attestation(att)]
    assert seats_of(first + rest) == list(range(quorum.size))
    # a member outside the sub-committee waits for the sub-committee's signed verdicts
    dispute = subcommittee.dispute_seats(seed, quorum.size)
    outside = next(s for s in range(quorum.size) if s not in sub and s not in dispute)
    waiting = ValidatorClient(
        Keystore([validators.registry.secrets[quorum.members[outside]]]),
        Quorums(validators.sets),
        MemberChecks(c.receipt_signature, c.route, c.answers),
        receipt_hash,
        CHAIN_ID,
    )
    assert await waiting.on_proved(item) == []
    late = [a for att in first + rest for a in await waiting.on_attestation(att)]
    assert seats_of(late) == [outside]
    assert late[0].verdict == (qc.VALID if honest_output else qc.INVALID)
    outcome = run_aggregator(aggregator(validators), item, first + rest)
    expected = types_pb2.FinalizedReceipt if honest_output else types_pb2.FaultRecord
    assert isinstance(outcome, expected)


def test_rewriting_a_receipt_cannot_change_who_reexecutes_it(validators: Validators) -> None:
    """The executor's grinding attack: re-sign the receipt with other timings until colluders hold the
    re-executing seats. The seats are a function of the request's quorum seed alone, so every variant draws the
    same ones."""
    item = proved_receipt(rid("ground"), tier=types_pb2.TIER_LLM)
    quorum, seed = draw_quorum(validators.sets, item.receipt, MAINNET)
    drawn = set()
    for total_ms in range(1, 40):
        variant = types_pb2.Receipt()
        variant.CopyFrom(item.receipt)
        variant.timings.total_ms = total_ms
        variant = receipts.sign(variant, NODE_KEYS[item.receipt.route.node_id])
        assert receipt_hash(variant) != receipt_hash(item.receipt)
        again, variant_seed = draw_quorum(validators.sets, variant, MAINNET)
        assert again.members == quorum.members
        drawn.add(tuple(subcommittee.seats(variant_seed, again.size)))
    assert drawn == {tuple(subcommittee.seats(seed, quorum.size))}


async def test_subcommittee_verdicts_must_be_signed_by_their_seats(validators: Validators, registry: Registry) -> None:
    item = proved_receipt(rid("llm forged"), tier=types_pb2.TIER_LLM)
    quorum, seed = draw_quorum(validators.sets, item.receipt, MAINNET)
    rh = receipt_hash(item.receipt)
    sub = subcommittee.seats(seed, quorum.size)
    forged = [
        types_pb2.Attestation(
            request_id=item.receipt.request_id,
            receipt_hash=rh,
            verdict=qc.INVALID,
            committee_index=seat,
            signature=bls.sign(bls.keygen(os.urandom(32)), b"forged"),
        )
        for seat in sub
    ]
    assert subcommittee.verdict(quorum, seed, item.receipt.request_id, rh, forged, CHAIN_ID) is None
    dispute = subcommittee.dispute_seats(seed, quorum.size)
    outside = next(s for s in range(256) if s not in sub and s not in dispute)
    wrong_seat = per_seat(registry, item, [outside], qc.VALID) * 5
    assert subcommittee.verdict(quorum, seed, item.receipt.request_id, rh, wrong_seat, CHAIN_ID) is None
    signed = per_seat(registry, item, sub, qc.VALID)
    assert subcommittee.verdict(quorum, seed, item.receipt.request_id, rh, signed, CHAIN_ID) == qc.VALID
    disputed = signed[1:] + per_seat(registry, item, sub[:1], qc.INVALID)  # one seat disputes: not VALID yet
    assert subcommittee.verdict(quorum, seed, item.receipt.request_id, rh, disputed, CHAIN_ID) is None
    ruled = disputed + per_seat(registry, item, dispute[: len(dispute) // 2 + 1], qc.INVALID)
    assert subcommittee.verdict(quorum, seed, item.receipt.request_id, rh, ruled, CHAIN_ID) == qc.INVALID


async def test_a_second_receipt_signed_for_a_request_is_equivocation_evidence(validators: Validators) -> None:
    agg = aggregator(validators)
    first = proved_receipt(rid("equivocated"))
    final = run_aggregator(agg, first, await attest_all(clients(validators), first))
    assert isinstance(final, types_pb2.FinalizedReceipt)  # the first receipt finalizes as usual

    second = types_pb2.ProvedReceipt()
    second.CopyFrom(first)
    second.receipt.fee = "999"  # another receipt for the same request, by the same node key
    second.receipt.CopyFrom(receipts.sign(second.receipt, NODE_KEYS[first.receipt.route.node_id]))
    record = agg.add_receipt(second)
    assert isinstance(record, types_pb2.FaultRecord) and "equivocation" in record.reason
    assert (record.receipt, record.conflicting) == (first.receipt, second.receipt)

    assert agg.add_receipt(first) is None  # the same receipt again is no evidence
    forged = types_pb2.ProvedReceipt()
    forged.CopyFrom(second)
    forged.receipt.fee = "998"  # changed after signing: binds nobody
    assert agg.add_receipt(forged) is None
    other_node = types_pb2.ProvedReceipt()
    other_node.CopyFrom(second)
    other_key = next(k for nid, k in NODE_KEYS.items() if nid != first.receipt.route.node_id)
    other_node.receipt.CopyFrom(receipts.sign(second.receipt, other_key))
    assert agg.add_receipt(other_node) is None  # another key's receipt is not this node's equivocation


def holding(registry: Registry, quorum, seats, member_checks: MemberChecks) -> ValidatorClient:
    """One validator process holding the keys of `seats` of `quorum`."""
    keys = Keystore([registry.secrets[quorum.members[s]] for s in seats])
    return ValidatorClient(keys, Quorums(Validators(registry).sets), member_checks, receipt_hash, CHAIN_ID)


async def _settle(honest: ValidatorClient, item, colluding: list[types_pb2.Attestation], agg: Aggregator):
    """Run the honest process over the receipt and every attestation it sees; the aggregator's outcome."""
    seen = await honest.on_proved(item)
    queue = list(colluding) + list(seen)
    i = 0
    while i < len(queue):
        queue += await honest.on_attestation(queue[i])
        i += 1
    return run_aggregator(agg, item, queue)


@pytest.mark.parametrize("honest_output", [False, True])
async def test_one_honest_reexecutor_suffices(validators: Validators, registry: Registry, honest_output: bool) -> None:
    """k-1 of the k re-executing seats collude. On a swapped-model receipt they sign VALID unchecked; the one honest
    seat's dispute sends it to the dispute seats, which re-execute, and it never finalizes VALID. On an honest
    receipt the colluders dispute instead, and the dispute seats' re-execution overrules them."""
    item = proved_receipt(rid(f"dispute {honest_output}"), tier=types_pb2.TIER_LLM)
    if not honest_output:
        item.output = "what another model wrote"
    quorum, seed = draw_quorum(validators.sets, item.receipt, MAINNET)
    sub = subcommittee.seats(seed, quorum.size)
    colluders = sub[1:]
    lie = qc.INVALID if honest_output else qc.VALID
    c = checks()
    honest_checks = MemberChecks(c.receipt_signature, c.route, c.answers, reexecute=output_reexecutor("out"))
    honest = holding(registry, quorum, [s for s in range(quorum.size) if s not in colluders], honest_checks)
    outcome = await _settle(honest, item, per_seat(registry, item, colluders, lie), aggregator(validators))
    if honest_output:
        assert isinstance(outcome, types_pb2.FinalizedReceipt) and outcome.certificate.verdict == qc.VALID
    else:
        assert isinstance(outcome, types_pb2.FaultRecord) and outcome.certificate.verdict == qc.INVALID
