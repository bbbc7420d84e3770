"""Real Groth16 proofs: verified in Python, on-chain through the generated verifiers on anvil, and by py_ecc."""

from __future__ import annotations

import json
import os
import random

import pytest
from py_ecc import bn128
from py_ecc.fields import bn128_FQ as FQ
from py_ecc.fields import bn128_FQ2 as FQ2

from ax0n.spec import settlement
from ax0n.zk import batch, envelope
from ax0n.zk.artifacts import Artifacts, ProofError
from ax0n.zk.mlp import QuantizedMLP
from tests.prover.chain import Anvil, compile_verifier, verify_calldata
from tests.prover.helpers import random_leaves

Case = tuple[bytes, list[int]]


@pytest.fixture(scope="module")
def mlp_proof(mlp_artifacts: Artifacts, model: QuantizedMLP) -> Case:
    inputs = model.circuit_inputs([random.Random(3).randint(-128, 127) for _ in range(16)])
    return mlp_artifacts.prove(inputs), mlp_artifacts.public_inputs(inputs)


def tampered_cases(case: Case, other_commitment: int) -> dict[str, Case]:
    env, public = case
    flipped = bytearray(env)
    flipped[200] ^= 0x01  # inside C.x
    return {
        "public input": (
            envelope.encode(env[:256], [public[0], public[1], public[2] ^ 1]),
            [public[0], public[1], public[2] ^ 1],
        ),
        "proof bytes": (bytes(flipped), public),
        "other model": (envelope.encode(env[:256], [other_commitment, *public[1:]]), [other_commitment, *public[1:]]),
    }


def test_mlp_proof_verifies_in_python_and_tampering_fails(mlp_artifacts: Artifacts, mlp_proof: Case) -> None:
    assert mlp_artifacts.verify(*mlp_proof)
    for name, (env, public) in tampered_cases(mlp_proof, QuantizedMLP.from_seed(b"other").commitment()).items():
        assert not mlp_artifacts.verify(env, public), name


def test_prover_refuses_a_wrong_output(mlp_artifacts: Artifacts, model: QuantizedMLP) -> None:
    inputs = model.circuit_inputs([0] * 16)
    with pytest.raises(ProofError):
        mlp_artifacts.prove({**inputs, "outputHash": int(inputs["outputHash"]) + 1})  # type: ignore[call-overload]


def _onchain(anvil: Anvil, art: Artifacts) -> tuple[str, str]:
    bytecode, selector = compile_verifier(art.solidity(), art.spec.contract)
    return anvil.deploy(bytecode), selector


def _accepts(anvil: Anvil, address: str, selector: str, case: Case) -> bool:
    decoded, verdict = envelope.decode(case[0])
    assert decoded is not None, verdict
    try:
        result = anvil.call(address, verify_calldata(selector, decoded, case[1]))
    except RuntimeError as exc:  # the verifier reverts (invalid opcode) on points the precompiles reject
        assert "EVM error" in str(exc), exc
        return False
    return int.from_bytes(result, "big") == 1


def test_mlp_proof_verifies_on_chain_and_tampering_fails(
    anvil: Anvil, mlp_artifacts: Artifacts, mlp_proof: Case
) -> None:
    address, selector = _onchain(anvil, mlp_artifacts)
    assert _accepts(anvil, address, selector, mlp_proof)
    for name, case in tampered_cases(mlp_proof, QuantizedMLP.from_seed(b"other").commitment()).items():
        assert not _accepts(anvil, address, selector, case), name


def test_batch_statement_mirrors_fee_split() -> None:
    leaves = random_leaves(16, 1)
    st = settlement.statement(7, leaves, 16)
    assert sum(st.operator_amounts) + st.validator_total + st.treasury_total == st.fee_total == sum(st.client_amounts)
    for i, leaf in enumerate(leaves):
        assert settlement.verify_inclusion(
            leaf, i, settlement.path_from(settlement.tree_levels(leaves, 16), i), st.root
        )
    assert not settlement.verify_inclusion(
        leaves[0], 1, settlement.path_from(settlement.tree_levels(leaves, 16), 0), st.root
    )
    with pytest.raises(ValueError):
        settlement.Leaf(os.urandom(32), os.urandom(32), os.urandom(20), os.urandom(20), 10, 9)


def test_batch_circuit_rejects_wrong_totals(batch_artifacts: Artifacts) -> None:
    leaves = random_leaves(5, 2)
    st = settlement.statement(7, leaves, 16)
    inputs = batch.circuit_inputs(leaves, 16, st)
    amounts = list(st.operator_amounts)
    amounts[0] += 1
    with pytest.raises(ProofError):
        batch_artifacts.prove({**inputs, "operatorAmounts": amounts})


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_devnet_batch_proof_verifies_on_chain(anvil: Anvil, batch_artifacts: Artifacts) -> None:
    leaves = random_leaves(16, 3)
    st = settlement.statement(7, leaves, 16)
    public = st.public_inputs()
    case = (batch_artifacts.prove(batch.circuit_inputs(leaves, 16, st)), public)
    assert batch_artifacts.verify(*case)
    address, selector = _onchain(anvil, batch_artifacts)
    assert _accepts(anvil, address, selector, case)
    for index in (0, 5):  # batch id, fee total
        bad = list(public)
        bad[index] += 1
        assert not _accepts(anvil, address, selector, (envelope.encode(case[0][:256], bad), bad))


def _g1(p: list[str]) -> tuple[FQ, FQ]:
    return FQ(int(p[0])), FQ(int(p[1]))


def _g2(p: list[list[str]]) -> tuple[FQ2, FQ2]:
    return FQ2([int(p[0][0]), int(p[0][1])]), FQ2([int(p[1][0]), int(p[1][1])])


def py_ecc_verify(vk_json: str, env: bytes, public: list[int]) -> bool:
    """Independent Groth16 check: e(A, B) == e(alpha, beta) * e(vk_x, gamma) * e(C, delta)."""
    vk = json.loads(vk_json)
    decoded, _ = envelope.decode(env)
    if decoded is None or decoded.digest != envelope.public_inputs_digest(public):
        return False
    w = decoded.words()
    a = (FQ(w[0]), FQ(w[1]))
    b = (FQ2([w[3], w[2]]), FQ2([w[5], w[4]]))  # Ethereum order puts c1 before c0
    c = (FQ(w[6]), FQ(w[7]))
    if not (bn128.is_on_curve(a, bn128.b) and bn128.is_on_curve(b, bn128.b2) and bn128.is_on_curve(c, bn128.b)):
        return False
    ic = [_g1(p) for p in vk["IC"]]
    vk_x = ic[0]
    for x, point in zip(public, ic[1:], strict=True):
        vk_x = bn128.add(vk_x, bn128.multiply(point, x))
    # e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) == 1
    pairs = [
        (b, bn128.neg(a)),
        (_g2(vk["vk_beta_2"]), _g1(vk["vk_alpha_1"])),
        (_g2(vk["vk_gamma_2"]), vk_x),
        (_g2(vk["vk_delta_2"]), c),
    ]
    product = bn128.FQ12.one()
    for q, p in pairs:
        product *= bn128.pairing(q, p)
    return product == bn128.FQ12.one()


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_py_ecc_independently_verifies(mlp_artifacts: Artifacts, mlp_proof: Case) -> None:
    vk_json = mlp_artifacts.vk.to_json()
    assert py_ecc_verify(vk_json, *mlp_proof)
    for name, case in tampered_cases(mlp_proof, QuantizedMLP.from_seed(b"other").commitment()).items():
        assert not py_ecc_verify(vk_json, *case), name
