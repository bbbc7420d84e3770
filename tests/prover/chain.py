"""Deploy and call the generated verifiers on a real anvil (test helper; replaced by ax0n.chain once it exists)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ax0n.zk.envelope import Decoded

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
ANVIL = CONTRACTS / "node_modules" / ".bin" / "anvil"
SOLC = CONTRACTS / "bin" / "solc"


class Anvil:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [str(ANVIL), "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            m = re.search(r"Listening on (127\.0\.0\.1:\d+)", line)
            if m:
                self.url = f"http://{m.group(1)}"
                break
        else:
            raise RuntimeError("anvil exited before listening")
        self.account = self.rpc("eth_accounts", [])[0]

    def rpc(self, method: str, params: list[object]) -> object:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            reply = json.loads(resp.read())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def deploy(self, bytecode: str) -> str:
        tx = self.rpc("eth_sendTransaction", [{"from": self.account, "data": "0x" + bytecode, "gas": hex(10_000_000)}])
        receipt = None
        for _ in range(100):
            receipt = self.rpc("eth_getTransactionReceipt", [tx])
            if receipt is not None:
                break
            time.sleep(0.05)
        assert isinstance(receipt, dict) and receipt["status"] == "0x1", receipt
        return str(receipt["contractAddress"])

    def call(self, to: str, data: bytes) -> bytes:
        return bytes.fromhex(str(self.rpc("eth_call", [{"to": to, "data": "0x" + data.hex()}, "latest"]))[2:])

    def estimate_gas(self, to: str, data: bytes) -> int:
        return int(str(self.rpc("eth_estimateGas", [{"to": to, "data": "0x" + data.hex()}])), 16)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def compile_verifier(source: str, contract: str) -> tuple[str, str]:
    """(deploy bytecode hex, verifyProof selector hex) via the contracts' solc-js wrapper."""
    std = {
        "language": "Solidity",
        "sources": {f"{contract}.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {"*": {"*": ["evm.bytecode.object", "evm.methodIdentifiers"]}},
        },
    }
    out = json.loads(
        subprocess.run(
            [str(SOLC), "--standard-json"], input=json.dumps(std), capture_output=True, text=True, check=True
        ).stdout
    )
    errors = [e for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    c = out["contracts"][f"{contract}.sol"][contract]
    selector = next(v for k, v in c["evm"]["methodIdentifiers"].items() if k.startswith("verifyProof("))
    return c["evm"]["bytecode"]["object"], selector


def verify_calldata(selector: str, decoded: Decoded, public_inputs: Sequence[int]) -> bytes:
    """ABI encoding of verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[N] input): all static words."""
    words = [*decoded.words(), *public_inputs]
    return bytes.fromhex(selector) + b"".join(int(w).to_bytes(32, "big") for w in words)
