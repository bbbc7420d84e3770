"""Write the forge fixtures: real batch proofs under THIS machine's batch16 setup (run from the repo root).

`make setup` runs it after `make artifacts` (mk/contracts.mk). The output, contracts/test/fixtures/Batches16.sol,
is git-ignored like the generated verifier it matches: both come from the per-machine single-party setup, so a
fresh setup (a new circuit or an emptied cache) needs new fixtures. The file records the verifying-key hash and
this script's hash; when both match, nothing is rewritten.

    .venv/bin/python contracts/script/batch_fixtures.py
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from eth_utils import to_checksum_address

from ax0n.chain.batch import SIZE, Batch, submission
from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.challenge import receipt_words
from ax0n.spec import bls
from ax0n.spec import receipt as receipts
from ax0n.spec.answers import DEVNET as DEVNET_DEPLOYMENT
from ax0n.spec.certificate import batch_signing_root
from ax0n.spec.params import DEVNET
from ax0n.spec.settlement import BatchPlan, Leaf
from ax0n.v1 import types_pb2
from ax0n.zk.batch import CircuitBatchProver

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "test/fixtures/Batches16.sol"
CLIENTS = tuple(bytes(19) + bytes([0xC1 + i]) for i in range(3))
OPERATORS = tuple(bytes(19) + bytes([0xA1 + i]) for i in range(2))
VALIDATORS = tuple(f"0x{0xB1 + i:040x}" for i in range(3))
VALIDATOR_SECRETS = tuple(bls.keygen(bytes([0xB1 + i]) * 32) for i in range(len(VALIDATORS)))
FIXTURE_BATCHES = 4
FORGE_CHAIN_ID = 31337
FIXTURE_SETTLEMENT = DEVNET_DEPLOYMENT.settlement  # the Settlement the fixture receipt is signed for
# A receipt whose EIP-712 encodeData words the forge tests start from (they vary fields and re-sign it): Settlement's
# receiptHash of these words must be ax0n.spec.receipt.receipt_hash of this receipt.
FIXTURE_RECEIPT = types_pb2.Receipt(
    request_id=b"\x01" * 32,
    model_id="mlp-devnet",
    model_commitment=b"\x02" * 32,
    tier=types_pb2.TIER_ZK,
    input_hash=b"\x03" * 32,
    output_hash=b"\x04" * 32,
    node_id=bytes.fromhex("19e7e376e7c213b7e7e7e46cc70a5dd086daff2a"),
    route=types_pb2.RouteDecision(request_id=b"\x01" * 32, cluster_id="default", node_id=b"\x07" * 32),
    timings=types_pb2.Timings(output_tokens=1, prompt_tokens=0),
    fee="5",
    client=b"\x06" * 20,
    fee_cap="9",
    chain_id=FORGE_CHAIN_ID,
    settlement=FIXTURE_SETTLEMENT,
)


def fixture_leaves(batch_id: int) -> list[Leaf]:
    """2 + 3·batch_id receipts over the fixture operators and clients, with fees that exercise the flooring."""
    return [
        Leaf(
            request_id=hashlib.sha256(f"request {batch_id}/{i}".encode()).digest(),
            receipt_hash=hashlib.sha256(f"receipt {batch_id}/{i}".encode()).digest(),
            operator=OPERATORS[i % len(OPERATORS)],
            client=CLIENTS[i % len(CLIENTS)],
            fee=10**17 * (i + 1) + 7_919 * batch_id + 13 * i,
            fee_cap=10**18 * (i + 2),
        )
        for i in range(2 + 3 * batch_id)
    ]


def committee_signature(batch: Batch, chain_id: int = FORGE_CHAIN_ID) -> bytes:
    """All fixture validators' aggregate signature over the batch's signing root (EIP-2537 encoding)."""
    message = batch_signing_root(batch.batch_id.to_bytes(32, "big"), batch.root.to_bytes(32, "big"), chain_id)
    return g2_uncompressed(bls.sign_many(VALIDATOR_SECRETS, message))


def _slots(name: str, values: tuple[int, ...]) -> str:
    return "".join(f"            b.{name}[{k}] = {v};\n" for k, v in enumerate(values) if v)


def _case(i: int, batch: Batch, proof: bytes) -> str:
    return (
        f"        if (i == {i}) {{\n"
        f"            b.batchId = {batch.batch_id};\n"
        f"            b.root = bytes32(uint256({batch.root}));\n"
        f"            b.count = {batch.count};\n"
        f"            b.feeTotal = {batch.fee_total};\n"
        f"            b.validatorTotal = {batch.validator_total};\n"
        f"            b.treasuryTotal = {batch.treasury_total};\n"
        + _slots("operators", batch.operators)
        + _slots("operatorAmounts", batch.operator_amounts)
        + _slots("clients", batch.clients)
        + _slots("clientAmounts", batch.client_amounts)
        + f'            proof = hex"{proof.hex()}";\n'
        f'            signature = hex"{committee_signature(batch).hex()}";\n'
        f"        }}\n"
    )


def _addresses(values: tuple[bytes, ...] | tuple[str, ...]) -> str:
    ints = [int.from_bytes(v, "big") if isinstance(v, bytes) else int(v, 16) for v in values]
    return ", ".join(f"address(uint160({n}))" for n in ints)


def proved(prover: CircuitBatchProver, seq: int) -> tuple[Batch, bytes]:
    plan = BatchPlan(seq, tuple(fixture_leaves(seq)), SIZE, DEVNET)
    return submission(plan, prover.prove(plan))


def solidity(prover: CircuitBatchProver, stamp: str) -> str:
    cases = [_case(i, *proved(prover, i)) for i in range(1, FIXTURE_BATCHES + 1)]
    keys = "".join(
        f'        if (i == {i}) return (hex"{g1_uncompressed(bls.public_key(sk)).hex()}", '
        f'hex"{g2_uncompressed(bls.prove_possession(sk)).hex()}");\n'
        for i, sk in enumerate(VALIDATOR_SECRETS)
    )
    secrets = ", ".join(f"0x{bytes(sk).hex()}" for sk in VALIDATOR_SECRETS)
    words = "".join(f"        w[{i}] = 0x{word.hex()};\n" for i, word in enumerate(receipt_words(FIXTURE_RECEIPT)))
    return (
        "// SPDX-License-Identifier: GPL-3.0-or-later\n"
        "// GENERATED by contracts/script/batch_fixtures.py (make setup): real Groth16 proofs of fixed batches under\n"
        "// this machine's batch16 setup (src/verifiers/Batch16Verifier.sol). Git-ignored; do not edit.\n"
        f"// {stamp}\n"
        "pragma solidity ^0.8.24;\n\n"
        'import {Settlement} from "../../src/Settlement.sol";\n\n'
        "library Batches16 {\n"
        f"    uint256 internal constant COUNT = {FIXTURE_BATCHES};\n\n"
        f"    function clients() internal pure returns (address[{len(CLIENTS)}] memory) {{\n"
        f"        return [{_addresses(CLIENTS)}];\n    }}\n\n"
        f"    function operators() internal pure returns (address[{len(OPERATORS)}] memory) {{\n"
        f"        return [{_addresses(OPERATORS)}];\n    }}\n\n"
        f"    function validators() internal pure returns (address[{len(VALIDATORS)}] memory) {{\n"
        f"        return [{_addresses(VALIDATORS)}];\n    }}\n\n"
        "    /// @notice Validator `i`'s BLS key and proof of possession (EIP-2537 encodings).\n"
        "    function validatorKey(uint256 i) internal pure returns (bytes memory pk, bytes memory pop) {\n"
        + keys
        + '        revert("no such validator");\n    }\n\n'
        "    /// @notice The validators' BLS secret scalars (tests sign with them: test/utils/BlsKeys.sol).\n"
        f"    function validatorSecrets() internal pure returns (uint256[{len(VALIDATOR_SECRETS)}] memory) {{\n"
        f"        return [uint256({secrets.split(', ')[0]}), {', '.join(secrets.split(', ')[1:])}];\n    }}\n\n"
        "    /// @notice ax0n.spec.receipt.receipt_hash of the fixture receipt (chain 31337, signed for the Settlement at\n"
        "    ///         SETTLEMENT) and its encodeData words.\n"
        f"    address internal constant SETTLEMENT = {to_checksum_address(FIXTURE_SETTLEMENT)};\n"
        f"    bytes32 internal constant RECEIPT_HASH = 0x{receipts.receipt_hash(FIXTURE_RECEIPT).hex()};\n\n"
        "    function receiptWords() internal pure returns (bytes32[17] memory w) {\n" + words + "    }\n\n"
        "    /// @notice Batch `i` (1..COUNT), its 256-byte proof and all three validators' aggregate signature.\n"
        "    function get(uint256 i)\n        internal\n        pure\n"
        "        returns (Settlement.Batch memory b, bytes memory proof, bytes memory signature)\n    {\n"
        + "".join(cases)
        + "    }\n}\n"
    )


def main() -> None:
    prover = CircuitBatchProver(SIZE)
    script = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    stamp = f"vk_hash {prover.artifacts.vk_hash.hex()} script {script}"
    if OUT.exists() and stamp in OUT.read_text():
        return
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(solidity(prover, stamp))


if __name__ == "__main__":
    main()
