"""A multi-party Groth16 phase-2 ceremony (snarkjs, npm) whose result becomes a circuit's artifacts.

    phase 1   powersoftau new/contribute/prepare phase2 at 2^power, cached by power under <root>/ptau/
    compile   circom 2 (npm `circom2`, the compiler as WebAssembly) -> .r1cs + witness wasm
    phase 2   groth16 setup, then one `zkey contribute` per contributor, each on the previous one's key
    verify    `zkey verify` of the final key against the r1cs and phase 1: every contribution checked
    import    groth16py.import_zkey -> pk/vk/verifier in <root>/<name>-<circuit hash>/, where ax0n.zk.artifacts.load
              (prover, validators, SDK) and the exported Solidity verifiers find it

The key is safe if any one contributor destroyed their randomness. `run` makes every contribution on this
machine: the contributors then share one machine, which is a test of the procedure, not a ceremony anyone
should trust. Remote contributors each run `python -m ax0n.zk ceremony contribute` on their own machine and
pass the key on. Phase 1 here is local too (a public Powers of Tau file cannot be downloaded on these machines).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import groth16py

from ax0n.zk import artifacts
from ax0n.zk.artifacts import SOLIDITY_PRAGMA, Artifacts, CircuitSpec

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "ceremony"  # `make ceremony-deps` installs it


class CeremonyError(RuntimeError):
    """A ceremony step failed, or its transcript does not verify."""


def _bin(name: str) -> Path:
    path = Path(os.environ.get("AX0N_CEREMONY_TOOLS") or TOOLS) / "node_modules" / ".bin" / name
    if not path.exists():
        raise CeremonyError(f"{path} is missing: run `make ceremony-deps` (npm ci in tools/ceremony)")
    return path


def _run(tool: str, *args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(_bin(tool)), *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 or "[ERROR]" in out:
        raise CeremonyError(f"{tool} {' '.join(map(str, args[:2]))} failed: {out.strip()[-800:]}")
    return out


def power_for(constraints: int, public: int) -> int:
    """The least phase-1 power snarkjs accepts for a circuit (it needs 2^power >= 2 * (constraints + public + 1))."""
    return max(2 * (constraints + public + 1) - 1, 1).bit_length()


def phase1(power: int, root: Path) -> tuple[Path, float]:
    """The prepared phase-1 file for 2^power (one local contribution), built once per power; and the seconds it
    took to build (recorded beside it)."""
    out = root / "ptau" / f"pot{power}_final.ptau"
    record = out.with_suffix(".json")
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            t = time.perf_counter()
            _run("snarkjs", "powersoftau", "new", "bn128", str(power), f"{tmp}/0.ptau")
            _run(
                "snarkjs",
                "powersoftau",
                "contribute",
                f"{tmp}/0.ptau",
                f"{tmp}/1.ptau",
                "--name=local",
                f"-e={secrets.token_hex(32)}",
            )
            _run("snarkjs", "powersoftau", "prepare", "phase2", f"{tmp}/1.ptau", f"{tmp}/final.ptau")
            seconds = time.perf_counter() - t
            record.write_text(json.dumps({"power": power, "seconds": round(seconds, 2), "contributions": 1}) + "\n")
            os.replace(f"{tmp}/final.ptau", out)
    return out, float(json.loads(record.read_text())["seconds"])


@dataclass(frozen=True, slots=True)
class Compiled:
    r1cs: Path
    wasm: Path
    constraints: int
    public: int


def compile_circuit(spec: CircuitSpec, work: Path) -> Compiled:
    """circom 2 at --O2, as groth16py compiles (WebAssembly: it sees only its working directory, so the sources and
    circomlib are copied in)."""
    shutil.copytree(artifacts.circuits_dir(), work / "circuits", dirs_exist_ok=True)
    shutil.copytree(groth16py.circomlib_path(2), work / "circomlib", dirs_exist_ok=True)
    (work / "main.circom").write_text(spec.main_source())
    _run("circom2", "main.circom", "--O2", "--r1cs", "--wasm", "-l", "circuits", "-l", "circomlib", "-o", ".", cwd=work)
    info = _run("snarkjs", "r1cs", "info", work / "main.r1cs")
    constraints = int(info.split("# of Constraints:")[1].split()[0])
    public = int(info.split("# of Public Inputs:")[1].split()[0])
    return Compiled(work / "main.r1cs", work / "main_js" / "main.wasm", constraints, public)


def contribute(zkey_in: Path, zkey_out: Path, name: str, entropy: str | None = None) -> str:
    """One phase-2 contribution on `zkey_in`; returns the contribution hash snarkjs prints (the contributor
    publishes it, so anyone can find their contribution in the verified transcript)."""
    out = _run(
        "snarkjs", "zkey", "contribute", zkey_in, zkey_out, f"--name={name}", f"-e={entropy or secrets.token_hex(32)}"
    )
    return " ".join(out.split("Contribution Hash:")[-1].split()[:16]) if "Contribution Hash:" in out else ""


def verify(r1cs: Path, ptau: Path, zkey: Path) -> bool:
    """The transcript check: every contribution in `zkey` follows from the phase-1 file and the circuit."""
    try:
        return "ZKey Ok!" in _run("snarkjs", "zkey", "verify", r1cs, ptau, zkey)
    except CeremonyError:
        return False


@dataclass(frozen=True, slots=True)
class Transcript:
    """A finished ceremony: the final key, each contributor's published hash, and the timings."""

    zkey: Path
    r1cs: Path
    ptau: Path
    wasm: Path
    contributions: tuple[tuple[str, str], ...]  # (name, contribution hash)
    power: int
    phase1_s: float
    phase2_s: float


def run(spec: CircuitSpec, contributors: Sequence[str], root: Path | None = None) -> Transcript:
    """A ceremony for `spec` with every contribution made here (contributors share this machine; see the module
    docstring), verified. The transcript files stay in <root>/ceremony/<name>-<circuit hash>/."""
    if len(contributors) < 2:
        raise CeremonyError("a multi-party ceremony needs at least two contributors")
    root = root or artifacts.cache_dir()
    work = root / "ceremony" / f"{spec.name}-{spec.circuit_hash()[:16]}"
    work.mkdir(parents=True, exist_ok=True)
    compiled = compile_circuit(spec, work)
    power = power_for(compiled.constraints, compiled.public)
    ptau, phase1_s = phase1(power, root)
    t = time.perf_counter()
    _run("snarkjs", "groth16", "setup", compiled.r1cs, ptau, work / "c0.zkey")
    done = []
    for i, name in enumerate(contributors, 1):
        done.append((name, contribute(work / f"c{i - 1}.zkey", work / f"c{i}.zkey", name)))
    final = work / f"c{len(contributors)}.zkey"
    if not verify(compiled.r1cs, ptau, final):
        raise CeremonyError(f"the transcript {final} does not verify")
    transcript = Transcript(
        final, compiled.r1cs, ptau, compiled.wasm, tuple(done), power, phase1_s, time.perf_counter() - t
    )
    (work / "transcript.json").write_text(
        json.dumps(
            {"power": power, "contributions": done, "phase1_s": phase1_s, "phase2_s": transcript.phase2_s}, indent=2
        )
        + "\n"
    )
    return transcript


def import_artifacts(spec: CircuitSpec, transcript: Transcript, root: Path | None = None) -> Artifacts:
    """Verify the transcript, then install its key as `spec`'s artifacts (replacing any single-party ones):
    what ax0n.zk.artifacts.load returns from now on to the prover, validators and SDK, and the Solidity verifier
    `export_verifiers` writes. Refuses a transcript that does not verify."""
    if not verify(transcript.r1cs, transcript.ptau, transcript.zkey):
        raise CeremonyError(f"refusing to import {transcript.zkey}: the transcript does not verify")
    root = root or artifacts.cache_dir()
    circuit_hash = spec.circuit_hash()
    dest = root / f"{spec.name}-{circuit_hash[:16]}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=root))
    try:
        pk, vk = groth16py.import_zkey(str(transcript.zkey))
        pk.save(str(tmp / "pk.bin"))
        vk.save(str(tmp / "vk.bin"))
        vk_json = json.dumps(json.loads(vk.to_json()), sort_keys=True, separators=(",", ":"))
        (tmp / "vk.json").write_text(vk_json)
        shutil.copyfile(transcript.wasm, tmp / "circuit.wasm")
        (tmp / f"{spec.contract}.sol").write_text(vk.to_solidity(pragma=SOLIDITY_PRAGMA, contract_name=spec.contract))
        meta: dict[str, object] = {
            "circuit": spec.name,
            "circuit_hash": circuit_hash,
            "vk_hash": hashlib.sha256(vk_json.encode()).hexdigest(),
            "n_public": vk.n_public,
            "public": list(spec.public),
            "groth16py": groth16py.__version__,
            "setup": f"ceremony: {len(transcript.contributions)} contributors on one machine, phase 1 2^{transcript.power}",
            "contributions": [list(c) for c in transcript.contributions],
            "zkey_sha256": hashlib.sha256(transcript.zkey.read_bytes()).hexdigest(),
        }
        if spec.weights_commitment:
            meta["weights_commitment"] = spec.weights_commitment
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Artifacts(spec, dest, json.loads((dest / "meta.json").read_text()))
