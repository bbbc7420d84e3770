"""The multi-party phase-2 ceremony (snarkjs): three contributors, transcript verification, and import as the
artifacts proofs are made and checked with; a transcript with a bad contribution is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from ax0n.zk import artifacts, ceremony
from ax0n.zk.artifacts import CircuitSpec

if not (ceremony.TOOLS / "node_modules" / ".bin" / "snarkjs").exists():
    pytest.skip("snarkjs is not installed: make ceremony-deps", allow_module_level=True)

TINY = CircuitSpec("tiny", "tiny.circom", "Tiny", "", ("c",), "TinyVerifier")
PARTIES = ["alice", "bob", "carol"]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    circuits = tmp_path_factory.mktemp("circuits")
    (circuits / "tiny.circom").write_text(
        "pragma circom 2.1.0;\n"
        "template Tiny() { signal input a; signal input b; signal input c; signal ab <== a * b; c === ab * a; }\n"
    )
    return circuits


@pytest.fixture
def tiny(tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> CircuitSpec:
    monkeypatch.setenv("AX0N_CIRCUITS_DIR", str(tiny_root))
    return TINY


def test_three_party_ceremony_becomes_the_artifacts(tiny: CircuitSpec, tmp_path: Path) -> None:
    t = ceremony.run(tiny, PARTIES, tmp_path)
    assert [name for name, _ in t.contributions] == PARTIES
    assert len({digest for _, digest in t.contributions}) == 3 and all(d for _, d in t.contributions)
    art = ceremony.import_artifacts(tiny, t, tmp_path)
    assert artifacts.load(tiny, build=False, root=tmp_path).vk_hash == art.vk_hash  # what every party loads
    assert "3 contributors" in str(art.meta["setup"])
    env = art.prove({"a": 3, "b": 4, "c": 36})
    assert art.verify(env, [36]) and not art.verify(env, [37])
    assert "contract TinyVerifier" in art.solidity()


def test_a_bad_contribution_is_refused(tiny: CircuitSpec, tmp_path: Path) -> None:
    t = ceremony.run(tiny, PARTIES, tmp_path)
    # carol's key altered after her contribution (a flipped byte in its last section)
    data = bytearray(t.zkey.read_bytes())
    data[-40] ^= 1
    bad = t.zkey.with_name("tampered.zkey")
    bad.write_bytes(bytes(data))
    # a "contributor" who replaces the chain with a key of their own from another phase 1 (they know its waste)
    other_root = tmp_path / "other"
    forged = ceremony.run(tiny, ["mallory", "mallory-2"], other_root)
    for zkey in (bad, forged.zkey):
        assert not ceremony.verify(t.r1cs, t.ptau, zkey)
        swapped = ceremony.Transcript(zkey, t.r1cs, t.ptau, t.wasm, t.contributions, t.power, 0.0, 0.0)
        with pytest.raises(ceremony.CeremonyError, match="does not verify"):
            ceremony.import_artifacts(tiny, swapped, tmp_path)


def test_power_for_circuit_size() -> None:
    assert ceremony.power_for(3, 1) == 4  # 2 * (3 + 1 + 1) = 10 <= 16
    assert ceremony.power_for(1808, 3) == 12
    assert ceremony.power_for(12265, 3) == 15


@pytest.mark.slow
def test_public_weight_mlp_ceremony(tmp_path: Path) -> None:
    """The devnet model's public-weight circuit (1,808 constraints, phase 1 at 2^12): imported, it proves and
    verifies receipts of the model in that mode."""
    from ax0n.zk import public
    from ax0n.zk.mlp import devnet_model
    from ax0n.zk.models import Mode, ZkModel

    spec = public.spec(devnet_model())
    t = ceremony.run(spec, PARTIES, tmp_path)
    ceremony.import_artifacts(spec, t, tmp_path)
    model = ZkModel.load(devnet_model(), Mode.PUBLIC_WEIGHTS, build=False, root=tmp_path)
    inputs = model.circuit_inputs([3] * 16)
    env = model.artifacts.prove(inputs)
    assert model.artifacts.verify(env, model.artifacts.public_inputs(inputs))
