"""RegistrySnapshot from chain state (`registry.from_chain`) equals the one parsed from the same data as a file."""

from __future__ import annotations

import json

import pytest
from ax0n_validator.registry import from_chain, parse
from eth_utils import keccak
from web3 import Web3

from ax0n.chain.snapshot import ChainState, NodeRecord, ValidatorRecord, routing_snapshot
from ax0n.spec import bls
from ax0n.spec.answers import RegisteredModel
from ax0n.spec.committee import Validator
from ax0n.spec.routing import DEFAULT_WEIGHTS, NodeStats
from ax0n.v1 import types_pb2

BLOCK, BLOCK_HASH = 4_096, b"\xab" * 32


def _node(i: int, cluster: str, models: tuple[str, ...], stake: int, active: bool = True) -> NodeRecord:
    operator = bytes([i]) * 20
    return NodeRecord(operator, keccak(operator), stake, active, cluster, models, bytes([0x40 + i]) * 20, "grpc://n", 7)


def _state() -> tuple[ChainState, list[bls.SecretKey]]:
    secrets = [bls.keygen(bytes([i + 1]) * 32) for i in range(3)]
    nodes = (
        _node(1, "east", ("m-a",), 2_000),
        _node(2, "west", ("m-a", "m-b"), 1_000),
        _node(3, "east", ("m-a",), 0, active=False),
        *(_node(10 + i, "validators", (), 1_000 * (i + 1)) for i in range(3)),
    )
    validators = tuple(
        ValidatorRecord(bytes([10 + i]) * 20, bytes(bls.public_key(sk)), 1_000 * (i + 1))
        for i, sk in enumerate(secrets)
    )
    models = {
        "m-a": RegisteredModel(b"\x11" * 32, types_pb2.TIER_LLM, 1_000),
        "m-b": RegisteredModel(b"\x22" * 32, types_pb2.TIER_ZK, 7),
    }
    return ChainState(BLOCK, BLOCK_HASH, 1_700_000_000, nodes, validators, models, DEFAULT_WEIGHTS), secrets


def test_from_chain_matches_parse() -> None:
    state, secrets = _state()
    stats = {n.node_id: NodeStats(uptime_bps=10_000) for n in state.nodes}
    snapshot = routing_snapshot(state, stats)
    from_state = from_chain(state, snapshot)
    doc = {
        "block": BLOCK,
        "block_hash": BLOCK_HASH.hex(),
        "validators": [
            {
                "pubkey": v.pubkey.hex(),
                "stake": str(v.stake),
                "pop": bytes(bls.prove_possession(sk)).hex(),
                "address": "0x" + v.address.hex(),
            }
            for v, sk in zip(state.validators, secrets, strict=True)
        ],
        "node_signers": {n.node_id.hex(): n.signing_key.hex() for n in state.nodes},
        "models": {
            m: {"commitment": r.commitment.hex(), "tier": r.tier, "price": str(r.price_per_1k)}
            for m, r in state.models.items()
        },
        "routing": json.loads(snapshot.to_json()),
    }
    from_file = parse(json.dumps(doc))

    assert from_state.validators == tuple(Validator(v.pubkey, v.stake) for v in state.validators)
    assert [a.lower() for a in from_state.addresses] == [a.lower() for a in from_file.addresses]
    for field in ("block", "block_hash", "validators", "node_signers", "models", "routing", "operators"):
        assert getattr(from_state, field) == getattr(from_file, field), field
    assert from_state.routing.snapshot_hash == snapshot.hash()
    assert set(from_state.routing.models) == {"m-a", "m-b"}  # the inactive node and the validators route nothing
    assert from_state.addresses[0] == Web3.to_checksum_address("0x" + "0a" * 20)  # as Signer addresses are


def test_from_chain_refuses_another_block() -> None:
    state, _ = _state()
    other = routing_snapshot(ChainState(BLOCK + 16, b"\xcd" * 32, 0, state.nodes, (), {}, DEFAULT_WEIGHTS), {})
    with pytest.raises(ValueError, match="routing snapshot is of block 4112, the chain state of block 4096"):
        from_chain(state, other)
