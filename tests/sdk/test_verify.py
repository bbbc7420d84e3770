"""verify=True fails on every kind of tampered evidence, and checks settlement inclusion with a real batch proof."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from ax0n.sdk import Ax0nClient, InferenceResult, VerificationError, Verifier
from ax0n.sdk.verify import static_validator_sets
from ax0n.spec import bls, settlement
from ax0n.spec import receipt as receipts
from ax0n.spec.committee import Validator
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts, batch
from tests.quorum import VALIDATORS
from tests.sdk.conftest import Mesh
from tests.sdk.mesh import (
    CHAIN_ID,
    CLIENT_KEY,
    LLM_MODEL,
    PARAMS,
    SNAPSHOT_BLOCK,
    SNAPSHOT_HASH,
    ZK_MODEL,
    certify,
    validator_sets,
)
from tests.sdk.test_client import FEATURES

VERIFIER = Verifier(validator_sets=validator_sets, params=PARAMS)


@pytest.fixture(scope="module")
def results(mesh: Mesh) -> dict[str, InferenceResult]:
    """One unverified LLM-tier and one zk-tier result from the router, plus the registered models."""
    with Ax0nClient(mesh.target, private_key=CLIENT_KEY, chain_id=CHAIN_ID) as client:
        models = {m.model_id: m for m in client.models()}
        return {
            "llm": client.infer(model=LLM_MODEL, prompt="verify this output", max_tokens=8),
            "zk": client.infer(model=ZK_MODEL, prompt=FEATURES, max_tokens=1),
            "models": models,  # type: ignore[dict-item]
        }


def tampered(result: InferenceResult, edit: Callable[[types_pb2.InferenceResult], None]) -> InferenceResult:
    raw = types_pb2.InferenceResult()
    raw.CopyFrom(result.raw)
    edit(raw)
    return dataclasses.replace(result, raw=raw)


def resign_and_certify(raw: types_pb2.InferenceResult, node_key: str) -> None:
    raw.receipt.CopyFrom(receipts.sign(raw.receipt, node_key))
    raw.certificate.CopyFrom(certify(raw.receipt))


def test_untampered_results_verify(results: dict) -> None:
    for tier in ("llm", "zk"):
        v = VERIFIER.verify(results[tier], results["models"][results[tier].request.model_id])
        assert "certificate" in v.checked


def _flip_envelope_bit(raw: types_pb2.InferenceResult) -> None:
    env = bytearray(raw.proof.envelope)
    env[100] ^= 1
    raw.proof.envelope = bytes(env)


def _output_and_hash(raw: types_pb2.InferenceResult) -> None:
    """A consistent forgery: new output, receipt re-signed by another key, certificate re-made for it."""
    raw.output = "FORGED"
    raw.receipt.output_hash = receipts.output_hash("FORGED")
    resign_and_certify(raw, "0x" + "99" * 32)


CASES: dict[str, tuple[str, Callable[[types_pb2.InferenceResult], None], str]] = {
    "output changed": ("llm", lambda raw: setattr(raw, "output", "HELLO"), "io: receipt's output hash"),
    "fee above cap": ("llm", lambda raw: setattr(raw.receipt, "fee", str(10**30)), "request: fee"),
    "receipt field changed": (
        "llm",
        lambda raw: setattr(raw.receipt.timings, "total_ms", 1),
        "receipt: receipt signed",
    ),
    "certificate below quorum": (
        "llm",
        lambda raw: raw.certificate.CopyFrom(_drop_signers(raw.certificate)),
        "certificate:",
    ),
    "certificate for another receipt": (
        "llm",
        lambda raw: setattr(raw.certificate, "receipt_hash", b"\x01" * 32),
        "certificate: certificate is for another",
    ),
    "no certificate": ("llm", lambda raw: raw.ClearField("certificate"), "certificate: result carries no"),
    "zk proof bit flipped": ("zk", _flip_envelope_bit, "proof:"),
    "zk output changed": ("zk", lambda raw: setattr(raw, "output", raw.output.replace('"label":', '"label":1')), "io"),
    "zk proof missing": ("zk", lambda raw: raw.ClearField("proof"), "proof: zk-tier result carries no proof"),
    "forged receipt with a fresh certificate": ("llm", _output_and_hash, None),  # passes: see test below
}


def _weak_fingerprint(raw: types_pb2.InferenceResult) -> None:
    """The executor picks its own fingerprint strength (top_k = 1, one chunk), re-signs, and even gets certified."""
    raw.receipt.fingerprint.top_k = 1
    raw.receipt.fingerprint.chunk_tokens = 4096
    resign_and_certify(raw, "0x" + "99" * 32)


CASES["top_k = 1 fingerprint"] = ("llm", _weak_fingerprint, "proof: fingerprint parameters")


def _drop_signers(cert: types_pb2.QuorumCertificate) -> types_pb2.QuorumCertificate:
    out = types_pb2.QuorumCertificate()
    out.CopyFrom(cert)
    out.signers = bytes([cert.signers[0] & 0b11]) + bytes(len(cert.signers) - 1)  # 2 seats left
    return out


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][2] is not None])
def test_tampered_evidence_fails(results: dict, case: str) -> None:
    tier, edit, message = CASES[case]
    bad = tampered(results[tier], edit)
    with pytest.raises(VerificationError) as err:
        VERIFIER.verify(bad, results["models"][bad.request.model_id])
    assert str(err.value).startswith(message), str(err.value)


def test_a_quorum_signing_a_forgery_is_what_the_certificate_trusts(results: dict) -> None:
    """Local checks cannot tell a receipt the quorum certified from the truth: the certificate is the trust root."""
    _, edit, _ = CASES["forged receipt with a fresh certificate"]
    forged = tampered(results["llm"], edit)
    VERIFIER.verify(forged, results["models"][LLM_MODEL])
    # the same forgery checked against another validator set (its signers are not that set's quorum) fails
    other_set = [Validator(bls.public_key(bls.keygen(bytes([i]) * 32)), v.stake) for i, v in enumerate(VALIDATORS)]
    wrong = Verifier(static_validator_sets({SNAPSHOT_BLOCK: (SNAPSHOT_HASH, other_set)}), PARAMS)
    with pytest.raises(VerificationError, match="certificate: aggregate signature does not verify"):
        wrong.verify(forged, results["models"][LLM_MODEL])


def test_certificate_needs_a_validator_set(results: dict) -> None:
    with pytest.raises(VerificationError, match="no validator set source"):
        Verifier(params=PARAMS).verify(results["llm"])
    unknown = Verifier(static_validator_sets({}), PARAMS)
    with pytest.raises(VerificationError, match=f"validator set at block {SNAPSHOT_BLOCK} is unknown"):
        unknown.verify(results["llm"])


def test_model_commitment_must_be_the_registered_one(results: dict) -> None:
    other = types_pb2.ModelInfo()
    other.CopyFrom(results["models"][LLM_MODEL])
    other.commitment = b"\x02" * 32
    with pytest.raises(VerificationError, match="model: receipt's model commitment"):
        VERIFIER.verify(results["llm"], other)


def settle(result: InferenceResult, batch_id: int = 7) -> types_pb2.Settlement:
    """A Settlement for `result` in a real 16-slot batch with one other receipt, with a real batch proof."""
    r = result.receipt
    mine = settlement.Leaf(
        bytes(r.request_id),
        receipts.receipt_hash(r),
        bytes(r.node_id),
        bytes(r.client),
        int(r.fee),
        int(r.fee_cap),
    )
    other = settlement.Leaf(b"\x11" * 32, b"\x22" * 32, b"\x33" * 20, b"\x44" * 20, 5, 9)
    leaves = [other, mine]
    art = artifacts.load(artifacts.BATCH16)
    stmt = settlement.statement(batch_id, leaves, 16)
    envelope = art.prove(batch.circuit_inputs(leaves, 16, stmt))
    return types_pb2.Settlement(
        request_id=r.request_id,
        batch_id=batch_id.to_bytes(32, "big"),
        tx_hash=b"\xab" * 32,
        block_number=123,
        state="mined",
        batch_seq=batch_id,
        batch_root=stmt.root.to_bytes(32, "big"),
        leaf_index=1,
        merkle_path=[w.to_bytes(32, "big") for w in settlement.path_from(settlement.tree_levels(leaves, 16), 1)],
        batch_proof=types_pb2.Proof(
            envelope=envelope,
            circuit_id=art.spec.name,
            public_inputs=[w.to_bytes(32, "big") for w in stmt.public_inputs()],
        ),
    )


@pytest.mark.slow  # a real 16-leaf batch proof: ~30 s here
def test_settlement_inclusion_and_batch_proof(results: dict) -> None:
    result = results["llm"]
    settlement = settle(result)
    settled = tampered(result, lambda raw: raw.settlement.CopyFrom(settlement))
    assert settled.tx_hash == "0x" + "ab" * 32
    v = VERIFIER.verify(settled, results["models"][LLM_MODEL])
    assert v.checked[-1] == "settlement"
    assert not any(u.startswith("settlement batch proof") for u in v.unchecked)

    def settler_shape(raw: types_pb2.InferenceResult) -> None:
        """What ax0n-settler's GetSettlement sends today: the envelope without circuit id and public inputs."""
        raw.settlement.batch_proof.ClearField("public_inputs")
        raw.settlement.batch_proof.ClearField("circuit_id")

    v = VERIFIER.verify(tampered(settled, settler_shape), results["models"][LLM_MODEL])
    assert "settlement batch proof: its public inputs did not come with the settlement" in v.unchecked

    def wrong_batch_root(raw: types_pb2.InferenceResult) -> None:
        raw.settlement.batch_root = b"\x00" * 31 + b"\x05"

    def wrong_index(raw: types_pb2.InferenceResult) -> None:
        raw.settlement.leaf_index = 0

    def wrong_path(raw: types_pb2.InferenceResult) -> None:
        raw.settlement.merkle_path[0] = b"\x00" * 31 + b"\x01"

    def wrong_root(raw: types_pb2.InferenceResult) -> None:
        raw.settlement.batch_proof.public_inputs[1] = b"\x00" * 31 + b"\x05"

    def wrong_batch(raw: types_pb2.InferenceResult) -> None:
        raw.settlement.batch_id = (8).to_bytes(32, "big")

    for edit, message in (
        (wrong_index, "not included"),
        (wrong_path, "not included"),
        (wrong_root, "batch root differs"),
        (wrong_batch, "batch id and batch sequence number differ"),
        (wrong_batch_root, "batch root differs"),
        (lambda raw: (wrong_batch_root(raw), settler_shape(raw)), "not included"),
    ):
        with pytest.raises(VerificationError, match=message):
            VERIFIER.verify(tampered(settled, edit), results["models"][LLM_MODEL])

    def root_and_path_for_a_fake_tree(raw: types_pb2.InferenceResult) -> None:
        """A path to a made-up root: inclusion holds, so only the batch proof can refuse it."""
        leaf = settlement.Leaf(
            bytes(raw.receipt.request_id),
            receipts.receipt_hash(raw.receipt),
            bytes(raw.receipt.node_id),
            bytes(raw.receipt.client),
            int(raw.receipt.fee),
            int(raw.receipt.fee_cap),
        )
        fake = [leaf, settlement.Leaf(b"\x55" * 32, b"\x66" * 32, b"\x77" * 20, b"\x88" * 20, 1, 1)]
        raw.settlement.leaf_index = 0
        raw.settlement.merkle_path[:] = [
            w.to_bytes(32, "big") for w in settlement.path_from(settlement.tree_levels(fake, 16), 0)
        ]
        raw.settlement.batch_proof.public_inputs[1] = batch.merkle_root(fake, 16).to_bytes(32, "big")
        raw.settlement.batch_root = raw.settlement.batch_proof.public_inputs[1]

    with pytest.raises(VerificationError, match="settlement: batch proof"):
        VERIFIER.verify(tampered(settled, root_and_path_for_a_fake_tree), results["models"][LLM_MODEL])
