"""Groth16 setup artifacts, built once per circuit and cached by circuit hash.

The devnet uses groth16py's single-party setup: whoever ran it knows the toxic waste and can forge proofs.
It is UNSAFE for anything holding value; production keys come from a snarkjs ceremony (docs/proofs.md).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib.metadata import version
from pathlib import Path

import groth16py

from ax0n.zk import envelope
from ax0n.zk.mlp import DEFAULT_SHAPE
from ax0n.zk.witness import WitnessCalculator, WitnessError, write_wtns

_WASMTIME = version("wasmtime")
CIRCUITS_DIR = Path(__file__).resolve().parent / "circuits"  # package data: the circom sources
SOLIDITY_PRAGMA = "^0.8.29"


def circuits_dir() -> Path:
    """$AX0N_CIRCUITS_DIR, else the circom sources installed with this package."""
    return Path(os.environ.get("AX0N_CIRCUITS_DIR") or CIRCUITS_DIR)


def cache_dir() -> Path:
    """$AX0N_ARTIFACTS_DIR, else ~/.cache/ax0n/artifacts (`make` points every target at the checkout's .cache)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ax0n" / "artifacts"
    return Path(os.environ.get("AX0N_ARTIFACTS_DIR") or default)


@dataclass(frozen=True, slots=True)
class CircuitSpec:
    """A circuit main: `template(args)` from `source`, with `public` input signals in declaration order."""

    name: str
    source: str
    template: str
    args: str
    public: tuple[str, ...]
    contract: str  # name of the generated Solidity verifier
    prelude: str = ""  # circom text placed before the main (the public-weight mode's weight functions)
    weights_commitment: str = ""  # public-weight mode: the hex Poseidon commitment of the weights it holds

    def main_source(self) -> str:
        return (
            "pragma circom 2.1.0;\n"
            f'include "{self.source}";\n'
            f"{self.prelude}"
            f"component main {{public [{', '.join(self.public)}]}} = {self.template}({self.args});\n"
        )

    def circuit_hash(self, root: Path | None = None) -> str:
        """sha256 over the compiler version, the main, and every circuit source."""
        root = root or circuits_dir()
        h = hashlib.sha256(f"groth16py {groth16py.__version__}\n".encode())
        h.update(self.main_source().encode())
        for path in sorted(root.glob("*.circom")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()


MLP = CircuitSpec(
    name="mlp",
    source="mlp.circom",
    template="QuantizedMLP",
    args=DEFAULT_SHAPE.circom_args(),
    public=("commitment", "inputHash", "outputHash"),
    contract="MlpVerifier",
)

BATCH_PUBLIC = (
    "batchId",
    "root",
    "count",
    "operatorBps",
    "validatorBps",
    "feeTotal",
    "validatorTotal",
    "treasuryTotal",
    "operators",
    "operatorAmounts",
    "clients",
    "clientAmounts",
)


def batch_spec(leaves: int) -> CircuitSpec:
    """The settlement circuit over `leaves` receipts (a power of two) and as many operator/client slots."""
    depth = leaves.bit_length() - 1
    if leaves < 2 or 1 << depth != leaves:
        raise ValueError("batch size must be a power of two >= 2")
    return CircuitSpec(
        name=f"batch{leaves}",
        source="batch.circom",
        template="BatchSettlement",
        args=f"{depth}, {leaves}",
        public=BATCH_PUBLIC,
        contract=f"Batch{leaves}Verifier",
    )


BATCH16 = batch_spec(16)
CIRCUITS: dict[str, CircuitSpec] = {c.name: c for c in (MLP, BATCH16)}


def extract_wasm(pk_file: bytes) -> bytes:
    """The circom witness calculator that groth16py stores inside a saved proving key (u64-LE length + module)."""
    start = pk_file.find(b"\0asm\x01\0\0\0")
    if start < 8:
        raise ValueError("no witness-calculator module in this proving key")
    (length,) = struct.unpack("<Q", pk_file[start - 8 : start])
    if start + length > len(pk_file):
        raise ValueError("truncated witness-calculator module")
    return pk_file[start : start + length]


class ProofError(ValueError):
    """The inputs do not satisfy the circuit, so no valid proof exists for them."""


@dataclass
class Artifacts:
    """One circuit's setup output on disk: proving key, verifying key, witness calculator, verifier source."""

    spec: CircuitSpec
    path: Path
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def circuit_hash(self) -> str:
        return str(self.meta["circuit_hash"])

    @property
    def vk_hash(self) -> bytes:
        """sha256 of the verifying key's canonical snarkjs JSON: what ModelRegistry records."""
        return bytes.fromhex(str(self.meta["vk_hash"]))

    @property
    def n_public(self) -> int:
        return int(self.meta["n_public"])  # type: ignore[call-overload]

    @cached_property
    def vk(self) -> groth16py.VerifyingKey:
        return groth16py.VerifyingKey.load(str(self.path / "vk.bin"))

    @cached_property
    def verifier(self) -> groth16py.Verifier:
        return groth16py.Verifier(self.vk)

    @cached_property
    def pk(self) -> groth16py.ProvingKey:
        return groth16py.ProvingKey.load(str(self.path / "pk.bin"))

    @property
    def wasm_path(self) -> Path:
        return self.path / "circuit.wasm"

    def solidity(self) -> str:
        return (self.path / f"{self.spec.contract}.sol").read_text()

    def public_inputs(self, inputs: Mapping[str, object]) -> list[int]:
        """The public inputs, in circuit order, taken from a full witness input."""
        out: list[int] = []
        for name in self.spec.public:
            value = inputs[name]
            out.extend(int(v) for v in value) if isinstance(value, list | tuple) else out.append(int(value))  # type: ignore[call-overload]
        return out

    @cached_property
    def _threads(self) -> threading.local:
        return threading.local()

    def witness_calculator(self) -> WitnessCalculator:
        """This thread's witness calculator (the compiled module is shared)."""
        local = self._threads
        if not hasattr(local, "calc"):
            local.calc = WitnessCalculator(self.wasm_path.read_bytes(), self.path / f"circuit.wasmtime-{_WASMTIME}.bin")
        return local.calc  # type: ignore[no-any-return]

    def witness(self, inputs: Mapping[str, object]) -> list[int]:
        """The full witness; ProofError when `inputs` violate the circuit."""
        try:
            return self.witness_calculator().compute(inputs)
        except WitnessError as exc:
            raise ProofError(f"inputs do not satisfy {self.spec.name}: {exc}") from exc

    def prove(self, inputs: Mapping[str, object]) -> bytes:
        """A 288-byte envelope; ProofError when `inputs` violate the circuit.

        The witness comes from the circuit's wasm under wasmtime (JIT) rather than groth16py's wasmi interpreter;
        groth16py then proves from it. groth16py proves unsatisfiable witnesses without complaint, so every
        proof is also verified before it is returned."""
        public = self.public_inputs(inputs)
        witness = self.witness(inputs)
        with tempfile.NamedTemporaryFile(suffix=".wtns") as wtns:
            write_wtns(witness, wtns.name)
            proof = groth16py.prove_wtns(self.pk, wtns.name)
        env = envelope.encode(proof, public)
        verdict = self.verify(env, public)
        if not verdict:
            raise ProofError(f"inputs do not satisfy {self.spec.name}: {verdict.reason}")
        return env

    def verify(self, env: object, public_inputs: Sequence[int]) -> envelope.Verdict:
        return envelope.verify(self.verifier, self.n_public, env, public_inputs)


def _canonical_vk_json(vk: groth16py.VerifyingKey) -> str:
    return json.dumps(json.loads(vk.to_json()), sort_keys=True, separators=(",", ":"))


def _build(spec: CircuitSpec, dest: Path, circuit_hash: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=dest.parent))
    try:
        main = tmp / "main.circom"
        main.write_text(spec.main_source())
        pk, vk = groth16py.setup_circom(str(main), [str(circuits_dir()), groth16py.circomlib_path(2)])
        pk.save(str(tmp / "pk.bin"))
        vk.save(str(tmp / "vk.bin"))
        vk_json = _canonical_vk_json(vk)
        (tmp / "vk.json").write_text(vk_json)
        (tmp / "circuit.wasm").write_bytes(extract_wasm((tmp / "pk.bin").read_bytes()))
        (tmp / f"{spec.contract}.sol").write_text(vk.to_solidity(pragma=SOLIDITY_PRAGMA, contract_name=spec.contract))
        meta = {
            "circuit": spec.name,
            "circuit_hash": circuit_hash,
            "vk_hash": hashlib.sha256(vk_json.encode()).hexdigest(),
            "n_public": vk.n_public,
            "public": list(spec.public),
            "groth16py": groth16py.__version__,
            "setup": "single-party (UNSAFE: devnet only)",
        }
        if spec.weights_commitment:
            meta["weights_commitment"] = spec.weights_commitment
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load(spec: CircuitSpec, *, build: bool = True, root: Path | None = None) -> Artifacts:
    """The cached artifacts for `spec`, running setup first when missing (serialised by a file lock)."""
    root = root or cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    circuit_hash = spec.circuit_hash()
    dest = root / f"{spec.name}-{circuit_hash[:16]}"
    if not (dest / "meta.json").exists():
        if not build:
            raise FileNotFoundError(f"no artifacts for {spec.name} at {dest}; run `make artifacts`")
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (dest / "meta.json").exists():
                _build(spec, dest, circuit_hash)
    return Artifacts(spec, dest, json.loads((dest / "meta.json").read_text()))


def export_verifiers(dest: Path, specs: Sequence[CircuitSpec] = tuple(CIRCUITS.values())) -> list[Path]:
    """Write each circuit's generated Solidity verifier into `dest` (contracts/src/verifiers)."""
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in specs:
        out = dest / f"{spec.contract}.sol"
        source = load(spec).solidity()
        if not out.exists() or out.read_text() != source:
            out.write_text(source)
        written.append(out)
    return written
