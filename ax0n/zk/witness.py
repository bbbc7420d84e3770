"""Circuit witness computation outside the prover: runs circom's `.wasm` witness calculator under wasmtime.

groth16py's `prove(pk, inputs)` interprets the same `.wasm` with wasmi; compiling it with wasmtime's JIT
instead and handing the result to `prove_wtns` is what brings proving time down (see docs/proofs.md).
The `.wasm` comes from the circom compiler that groth16py runs in-process (see `artifacts.extract_wasm`).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

import wasmtime

from ax0n.zk.poseidon import FIELD

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


_LONG = 0x80000000  # circom wasm Fr element: i32 short value, u32 type flags, 8 x u32 long value (little-endian)
_MONTGOMERY = 0x40000000
_R_INV = pow(1 << 256, -1, FIELD)
_LEB = rb"((?:[\x80-\xff])*[\x00-\x7f])"
# getWitness(i) starts: i32.const LIST; local.get 0; i32.const 2; i32.shl; i32.add; i32.load;
#                       i32.const ELEMENT_SIZE; i32.mul; i32.const SIGNALS; i32.add
_GET_WITNESS = re.compile(
    rb"\x41" + _LEB + rb"\x20\x00\x41\x02\x74\x6a\x28\x02\x00\x41" + _LEB + rb"\x6c\x41" + _LEB + rb"\x6a"
)


def _leb128(data: bytes, pos: int, signed: bool = False) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if signed and byte & 0x40:
        result -= 1 << shift
    return result, pos


def _function_body(wasm: bytes, export: str) -> bytes | None:
    """The code of an exported function, from a minimal walk over the module's sections."""
    sections: dict[int, tuple[int, int]] = {}
    pos = 8
    while pos < len(wasm):
        sid = wasm[pos]
        size, pos = _leb128(wasm, pos + 1)
        sections.setdefault(sid, (pos, size))
        pos += size
    imported_funcs = 0
    if 2 in sections:
        count, pos = _leb128(wasm, sections[2][0])
        for _ in range(count):
            for _ in range(2):  # module, field names
                n, pos = _leb128(wasm, pos)
                pos += n
            kind = wasm[pos]
            pos += 1
            if kind == 0:
                _, pos = _leb128(wasm, pos)
                imported_funcs += 1
            elif kind in (1, 2):  # table (elemtype first) or memory: limits
                pos += kind == 1
                flags = wasm[pos]
                _, pos = _leb128(wasm, pos + 1)
                if flags & 1:
                    _, pos = _leb128(wasm, pos)
            else:  # global: valtype, mutability
                pos += 2
    count, pos = _leb128(wasm, sections[7][0])
    index = None
    for _ in range(count):
        n, pos = _leb128(wasm, pos)
        name = wasm[pos : pos + n]
        kind = wasm[pos + n]
        idx, pos = _leb128(wasm, pos + n + 1)
        if kind == 0 and name == export.encode():
            index = idx - imported_funcs
    if index is None:
        return None
    count, pos = _leb128(wasm, sections[10][0])
    for k in range(count):
        size, pos = _leb128(wasm, pos)
        if k == index:
            return wasm[pos : pos + size]
        pos += size
    return None


def _witness_layout(wasm: bytes) -> tuple[int, int, int] | None:
    """(witness-to-signal table address, Fr element size, signal memory start) read off getWitness, if recognised."""
    try:
        body = _function_body(wasm, "getWitness")
    except (IndexError, KeyError):
        return None
    match = _GET_WITNESS.search(body or b"")
    if match is None:
        return None
    return tuple(_leb128(g, 0, signed=True)[0] for g in match.groups())  # type: ignore[return-value]


_ENGINE = wasmtime.Engine()


@lru_cache(maxsize=8)
def _compile(wasm: bytes, cache: Path | None) -> wasmtime.Module:
    """JIT-compile `wasm` (seconds for a large circuit), reusing wasmtime's serialized output from `cache`."""
    if cache is not None and cache.exists():
        try:
            return wasmtime.Module.deserialize(_ENGINE, cache.read_bytes())
        except wasmtime.WasmtimeError:
            pass  # written by another wasmtime version or config: recompile
    module = wasmtime.Module(_ENGINE, wasm)
    if cache is not None:
        tmp = cache.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(module.serialize())
        tmp.replace(cache)
    return module


class WitnessError(ValueError):
    """The inputs do not satisfy the circuit (a failed `===` or assert), or name unknown signals."""


def _fnv1a64(name: str) -> int:
    h = _FNV_OFFSET
    for byte in name.encode():
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def _flatten(value: object) -> Iterator[int]:
    if isinstance(value, list | tuple):
        for v in value:
            yield from _flatten(v)
    else:
        yield int(value)  # type: ignore[call-overload]


class WitnessCalculator:
    """A compiled circom witness calculator; `compute` is not thread-safe, use one per thread."""

    def __init__(self, wasm: bytes, compiled_cache: Path | None = None) -> None:
        """`compiled_cache`: where to keep wasmtime's compiled module for the next process (trusted input only)."""
        self._engine, self._module = _ENGINE, _compile(wasm, compiled_cache)
        self._store = wasmtime.Store(self._engine)
        self._errors: list[int] = []

        def on_exception(code: int) -> None:
            self._errors.append(code)
            raise WitnessError(f"circuit assertion failed (circom error code {code})")

        def noop() -> None:
            return None

        i32 = wasmtime.ValType.i32()
        imports = {
            "exceptionHandler": wasmtime.Func(self._store, wasmtime.FuncType([i32], []), on_exception),
            "printErrorMessage": wasmtime.Func(self._store, wasmtime.FuncType([], []), noop),
            "writeBufferMessage": wasmtime.Func(self._store, wasmtime.FuncType([], []), noop),
            "showSharedRWMemory": wasmtime.Func(self._store, wasmtime.FuncType([], []), noop),
        }
        order = [imp.name for imp in self._module.imports]
        self._instance = wasmtime.Instance(self._store, self._module, [imports[n] for n in order])
        ex = self._instance.exports(self._store)
        self._ex = ex
        self._memory: wasmtime.Memory = ex["memory"]  # type: ignore[assignment]
        self._n32: int = ex["getFieldNumLen32"](self._store)  # type: ignore[operator]
        self._n8 = self._n32 * 4
        self._shared: int = ex["getSharedRWMemoryStart"](self._store)  # type: ignore[operator]
        self.size: int = ex["getWitnessSize"](self._store)  # type: ignore[operator]
        if self._n32 != 8:
            raise ValueError("not a BN254 circuit")
        self._layout = _witness_layout(wasm)

    def _call(self, name: str, *args: int) -> int:
        try:
            return self._ex[name](self._store, *args)  # type: ignore[operator,no-any-return]
        except wasmtime.Trap as exc:
            raise WitnessError(f"circuit assertion failed in {name} (circom error codes {self._errors})") from exc

    def check(self, inputs: Mapping[str, object]) -> None:
        """Run the circuit on `inputs`; raises WitnessError when they violate any of its assertions."""
        self._errors.clear()
        self._call("init", 1)
        for name, value in inputs.items():
            h = _fnv1a64(name)
            hi, lo = h >> 32, h & 0xFFFFFFFF
            values = list(_flatten(value))
            size = self._call("getInputSignalSize", hi, lo)
            if size < 0:
                raise WitnessError(f"unknown input signal {name!r}")
            if size != len(values):
                raise WitnessError(f"input {name!r} takes {size} values, got {len(values)}")
            for i, v in enumerate(values):
                self._memory.write(self._store, (v % FIELD).to_bytes(self._n8, "little"), self._shared)
                self._call("setInputSignal", hi, lo, i)
        if self._errors:
            raise WitnessError(f"circuit assertion failed (circom error codes {self._errors})")

    def compute(self, inputs: Mapping[str, object], *, per_wire: bool = False) -> list[int]:
        """The full witness (wire 0 is the constant 1), or WitnessError when `inputs` violate the circuit.

        Read with one memory copy where the module's layout was recognised, else (or with `per_wire`) through
        the calculator's own getWitness call for each wire."""
        self.check(inputs)
        if not per_wire and self._layout is not None and self._layout[1] == self._n8 + 8:
            return self._read_all()
        return self._read_each()

    def _read_all(self) -> list[int]:
        """Decode every wire from one copy of linear memory (what getWitness does per wire, without the calls)."""
        table, element, signals = self._layout  # type: ignore[misc]
        mem = self._memory.read(self._store, 0, self._memory.data_len(self._store))
        out = []
        for sig in struct.unpack_from(f"<{self.size}I", mem, table):
            off = signals + sig * element
            short, flags = struct.unpack_from("<iI", mem, off)
            if flags & _LONG:
                value = int.from_bytes(mem[off + 8 : off + element], "little")
                out.append(value * _R_INV % FIELD if flags & _MONTGOMERY else value)
            else:
                out.append(short % FIELD)
        return out

    def _read_each(self) -> list[int]:
        out = []
        for i in range(self.size):
            self._call("getWitness", i)
            out.append(int.from_bytes(self._memory.read(self._store, self._shared, self._shared + self._n8), "little"))
        return out


def write_wtns(witness: list[int], path: str | Path) -> None:
    """Write a witness in the iden3 `.wtns` binary format (version 2) that `groth16py.prove_wtns` reads."""
    n8 = 32
    header = struct.pack("<I", n8) + FIELD.to_bytes(n8, "little") + struct.pack("<I", len(witness))
    body = b"".join(w.to_bytes(n8, "little") for w in witness)
    data = b"wtns" + struct.pack("<II", 2, 2)
    data += struct.pack("<IQ", 1, len(header)) + header
    data += struct.pack("<IQ", 2, len(body)) + body
    Path(path).write_bytes(data)
