"""The optimistic batch rules (ax0n.spec.batch): honest batches have no provable fault, every single lie in a leaf's
or an entry's accounting is provable, and the forge fixtures (which check the same batches against BatchLeaves.sol
on-chain, contracts/test/OptimisticSettlement.t.sol) are what these rules build today."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from functools import cache
from pathlib import Path

from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from ax0n.spec import batch as batches
from ax0n.spec import request as requests

SCRIPT = Path(__file__).resolve().parents[2] / "contracts" / "script" / "optimistic_fixtures.py"
LEAF_FIELDS = (
    "index",
    "fee",
    "client_slot",
    "client_prev",
    "client_cum",
    "operator_slot",
    "operator_prev",
    "operator_cum",
)
ACCOUNT_FIELDS = ("slot", "debit", "credit", "last_debit", "last_credit", "debit_cum", "credit_cum")


@cache
def fixtures():
    spec = importlib.util.spec_from_file_location("optimistic_fixtures", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["optimistic_fixtures"] = module
    spec.loader.exec_module(module)
    return module


@cache
def pool() -> tuple[batches.Debit, ...]:
    f = fixtures()
    return tuple(f.debit(f.CLIENT_KEYS[i % 3], 200 + i, f.OPERATORS[i % 2], 10**15 + 31 * i * i) for i in range(12))


def fault(b: batches.Batch) -> str | None:
    f = fixtures()
    found = batches.find_fault(b, f.CHAIN_ID, f.REQUEST_DOMAIN)
    return found and found.challenge


def test_the_forge_fixtures_are_current() -> None:
    f = fixtures()
    assert f.OUT.read_text() == f.render(), "run contracts/script/optimistic_fixtures.py"


def test_each_fixture_fault_is_the_one_its_forge_test_proves() -> None:
    f = fixtures()
    built = f.fixtures()
    assert fault(built["honest"][0]) is None and fault(built["honest2"][0]) is None
    assert fault(built["unauthorized"][0]) == "challengeLeaf"
    wrong, target = built["wrongTotal"]
    found = batches.find_fault(wrong, f.CHAIN_ID, f.REQUEST_DOMAIN)
    assert found == batches.Fault("challengeEntry", (target,), (wrong.leaves[target].client_slot,), 0)
    over, target = built["overcharge"]
    assert fault(over) is None  # only the signed request shows it
    assert batches.overcharged(over.leaves[target], over.leaves[target].request_hash, f.FEE_CAP)
    replay, target = built["replay"]
    assert replay.leaves[target].request_hash == built["honest"][0].leaves[0].request_hash


def test_proofs_verify_against_the_roots_and_nothing_else() -> None:
    b = batches.build(1, pool()[:7], 7_800)
    for i, leaf in enumerate(b.leaves):
        assert batches.verify(b.leaf_proof(i), b.header.leaf_root, leaf.hash())
        assert not batches.verify(b.leaf_proof(i), b.header.account_root, leaf.hash())
    for a in b.accounts:
        assert batches.verify(b.account_proof(a.slot), b.header.account_root, a.hash())
    assert b.header.fee_total == sum(d.fee for d in pool()[:7])
    assert b.header.operator_total == sum(d.fee * 7_800 // 10_000 for d in pool()[:7])


@settings(max_examples=150, deadline=None)
@given(
    picks=st.lists(st.integers(0, 11), min_size=1, max_size=12, unique=True),
    which=st.integers(0, 10**6),
    field=st.sampled_from(LEAF_FIELDS + ACCOUNT_FIELDS),
    delta=st.sampled_from([1, -1, 2]),
)
def test_every_single_accounting_lie_is_provable(picks: list[int], which: int, field: str, delta: int) -> None:
    b = batches.build(1, [pool()[i] for i in picks], 7_800)
    assert fault(b) is None
    if field in LEAF_FIELDS and field in ACCOUNT_FIELDS:
        raise AssertionError("field names must not overlap")
    if field in ACCOUNT_FIELDS:
        k = which % len(b.accounts)
        value = getattr(b.accounts[k], field) + delta
        if value < 0:
            return
        accounts = list(b.accounts)
        accounts[k] = dataclasses.replace(accounts[k], **{field: value})
        lied = dataclasses.replace(b, accounts=tuple(accounts))
    else:
        k = which % len(b.leaves)
        value = getattr(b.leaves[k], field) + delta
        if value < 0:
            return
        leaves = list(b.leaves)
        leaves[k] = dataclasses.replace(leaves[k], **{field: value})
        lied = dataclasses.replace(b, leaves=tuple(leaves))
    assert fault(lied) is not None, f"{field} {delta:+} at {k} went unnoticed"


def test_a_forged_signature_is_an_unauthorized_debit() -> None:
    f = fixtures()
    forged = f.debit(f.CLIENT_KEYS[0], 300, f.OPERATORS[0], 1, signer=f.ATTACKER_KEY)
    assert fault(batches.build(1, [*pool()[:3], forged], 7_800)) == "challengeLeaf"


def test_a_high_s_twin_of_a_valid_signature_is_refused_as_the_contract_refuses_it() -> None:
    d = pool()[0]
    r, s, v = d.signature[:32], int.from_bytes(d.signature[32:64], "big"), d.signature[64]
    twin = r + (requests.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # recovers the same address
    assert requests.recover_digest(twin, keccak(b"\x19\x01" + domain() + d.request_hash)) == d.client
    assert batches.canonical_signature(twin) is None and batches.canonical_signature(d.signature) == d.signature
    assert fault(batches.build(1, [dataclasses.replace(d, signature=twin)], 7_800)) == "challengeLeaf"


def domain() -> bytes:
    f = fixtures()
    return requests.domain_separator(f.CHAIN_ID, f.REQUEST_DOMAIN)
