"""Write contracts/test/fixtures/OptimisticBatches.sol: optimistic batches built by ax0n.spec.batch, honest and
with one fault each, that the forge tests (test/OptimisticSettlement.t.sol) submit and challenge. The file is
deterministic and checked in; tests/spec/test_batch_chain.py fails when it is stale.

    .venv/bin/python contracts/script/optimistic_fixtures.py
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eth_abi import encode
from eth_account import Account

from ax0n.spec import batch as batches
from ax0n.spec import request as requests
from ax0n.v1 import types_pb2

OUT = Path(__file__).resolve().parents[1] / "test/fixtures/OptimisticBatches.sol"
CHAIN_ID = 31337  # forge's
REQUEST_DOMAIN = bytes.fromhex("5e77100000000000000000000000000000000001")
OPERATOR_BPS = 7_800
CLIENT_KEYS = tuple(bytes([0xC1 + i]) * 32 for i in range(3))
ATTACKER_KEY = b"\xee" * 32
OPERATORS = tuple(bytes(19) + bytes([0xA1 + i]) for i in range(2))
FEE_CAP = 10**16

LEAF = (
    "(uint32,address,address,uint96,bytes32,bytes32,bytes32,bytes32,uint8,uint32,uint32,uint128,uint32,uint32,uint128)"
)
ACCOUNT = "(uint32,address,uint128,uint128,uint32,uint32,uint128,uint128)"
HEADER = "(uint64,bytes32,bytes32,uint32,uint32,uint128,uint128,uint16)"
REQUEST = "(string,bytes32,uint32,uint32,uint256,uint64,uint64,uint64)"


def address(key: bytes) -> bytes:
    return bytes.fromhex(Account.from_key(key).address[2:])


def signed_request(key: bytes, nonce: int, fee_cap: int = FEE_CAP) -> types_pb2.InferenceRequest:
    req = types_pb2.InferenceRequest(
        model_id="m",
        prompt=f"prompt {nonce}",
        max_tokens=64,
        max_latency_ms=5_000,
        fee_cap=str(fee_cap),
        nonce=nonce,
        deadline=2_000_000_000,
        chain_id=CHAIN_ID,
        settlement=REQUEST_DOMAIN,
    )
    return requests.sign(req, key)


def debit(key: bytes, nonce: int, operator: bytes, fee: int, signer: bytes | None = None) -> batches.Debit:
    """`key`'s client debited `fee` for request `nonce`, signed by `signer` (default: the client itself)."""
    req = signed_request(signer or key, nonce)
    return batches.Debit(
        receipt_hash=nonce.to_bytes(32, "big"),
        request_hash=requests.struct_hash(req),
        signature=bytes(req.signature),
        client=address(key),
        operator=operator,
        fee=fee,
    )


def honest_debits(first_nonce: int, n: int) -> list[batches.Debit]:
    return [debit(CLIENT_KEYS[i % 3], first_nonce + i, OPERATORS[i % 2], 10**15 + 7_777 * i) for i in range(n)]


def request_tuple(req: types_pb2.InferenceRequest) -> tuple:
    return (
        req.model_id,
        bytes(req.prompt_hash),
        req.max_tokens,
        req.max_latency_ms,
        int(req.fee_cap),
        req.nonce,
        req.deadline,
        req.chain_id,
    )


def with_entry(b: batches.Batch, slot: int, **change: int) -> batches.Batch:
    """`b` with entry `slot` changed and every running sum after it recomputed (a self-consistent lie)."""
    accounts = list(b.accounts)
    accounts[slot] = dataclasses.replace(accounts[slot], **change)
    debit_cum = credit_cum = 0
    for i, a in enumerate(accounts):
        debit_cum += a.debit
        credit_cum += a.credit
        accounts[i] = dataclasses.replace(a, debit_cum=debit_cum, credit_cum=credit_cum)
    return dataclasses.replace(b, accounts=tuple(accounts))


def fixtures() -> dict[str, tuple[batches.Batch, int]]:
    """name -> (batch, the leaf index its challenge names)."""
    honest = batches.build(1, honest_debits(1, 8), OPERATOR_BPS)
    unauthorized = honest_debits(20, 8)
    unauthorized[5] = debit(CLIENT_KEYS[2], 25, OPERATORS[0], 10**15, signer=ATTACKER_KEY)
    client = address(CLIENT_KEYS[0])
    base = batches.build(2, honest_debits(40, 8), OPERATOR_BPS)
    slot = base.slot_of(client)
    wrong_total = with_entry(base, slot, debit=base.accounts[slot].debit - 10**14)
    over = honest_debits(60, 8)
    over[3] = dataclasses.replace(over[3], fee=FEE_CAP + 1)
    replay = honest_debits(80, 8)
    replay[2] = honest_debits(1, 1)[0]
    return {
        "honest": (honest, 0),
        "honest2": (batches.build(2, honest_debits(100, 8), OPERATOR_BPS), 0),
        "unauthorized": (batches.build(2, unauthorized, OPERATOR_BPS), 5),
        "wrongTotal": (wrong_total, max(i for i, d in enumerate(wrong_total.leaves) if d.client == client)),
        "overcharge": (batches.build(2, over, OPERATOR_BPS), 3),
        "replay": (batches.build(2, replay, OPERATOR_BPS), 2),
    }


def encoded(b: batches.Batch) -> bytes:
    return encode(
        [HEADER, f"{LEAF}[]", f"{ACCOUNT}[]", "bytes32[][]", "bytes32[][]"],
        [
            b.header.values(),
            [x.values() for x in b.leaves],
            [a.values() for a in b.accounts],
            [b.leaf_proof(i) for i in range(len(b.leaves))],
            [b.account_proof(i) for i in range(len(b.accounts))],
        ],
    )


def render() -> str:
    lines = [
        "// SPDX-License-Identifier: GPL-3.0-or-later",
        "// GENERATED by contracts/script/optimistic_fixtures.py from ax0n.spec.batch; do not edit.",
        "pragma solidity ^0.8.24;",
        "",
        "/// @notice Batches built by the Python rules: abi.encode(Header, Leaf[], Account[], leaf proofs, account",
        "///         proofs), and for each faulty one the leaf its challenge names (`target`).",
        "library OptimisticBatches {",
        f"    address internal constant REQUEST_DOMAIN = address(0x{REQUEST_DOMAIN.hex()});",
        "",
    ]
    for name, (b, target) in fixtures().items():
        lines += [
            f"    function {name}() internal pure returns (bytes memory data, uint256 target) {{",
            f'        return (hex"{encoded(b).hex()}", {target});',
            "    }",
            "",
        ]
    req = signed_request(CLIENT_KEYS[0], 63)
    assert requests.struct_hash(req) == fixtures()["overcharge"][0].leaves[3].request_hash
    lines += [
        "    /// @notice abi.encode(Request) of the overcharge fixture's leaf 3.",
        "    function overchargeRequest() internal pure returns (bytes memory) {",
        f'        return hex"{encode([REQUEST], [request_tuple(req)]).hex()}";',
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    OUT.write_text(render())


if __name__ == "__main__":
    main()
