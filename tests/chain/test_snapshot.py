"""ax0n.chain.snapshot on a fresh anvil: the registry state at a block, and the routing snapshot built from it."""

from __future__ import annotations

import dataclasses

import pytest
from ax0n_tools.devnet.anvil import Anvil
from eth_account import Account
from eth_utils import keccak

from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest, ModelSpec, deploy, model_key
from ax0n.chain.registration import signing_key_proof
from ax0n.chain.snapshot import ChainState, read_state, routing_snapshot
from ax0n.spec import bls
from ax0n.spec.answers import RegisteredModel
from ax0n.spec.params import DEVNET
from ax0n.spec.routing import NodeStats, build_index, route
from ax0n.v1 import types_pb2

COMMIT_A, COMMIT_B = b"\x11" * 32, b"\x22" * 32
STAKE = DEVNET.min_node_stake


@pytest.fixture(scope="module")
def models_manifest(anvil: Anvil) -> Manifest:
    """The protocol with two LLM-tier models registered (the `manifest` fixture registers none)."""
    models = tuple(
        ModelSpec(model_key(m), c, "llm", 1_000, b"\0" * 32, 10**15) for m, c in (("m-a", COMMIT_A), ("m-b", COMMIT_B))
    )
    return deploy(anvil.web3, anvil.accounts[0].key, params=DEVNET, models=models)


def test_read_state_at_two_blocks(anvil: Anvil, models_manifest: Manifest) -> None:
    w3 = anvil.web3
    deployer = Signer.from_key(w3, anvil.accounts[0].key)
    token = models_manifest.contract(w3, "Ax0nToken")
    nodes = models_manifest.contract(w3, "NodeRegistry")
    a, b, c, val = (Signer.from_key(w3, acct.key) for acct in anvil.accounts[1:5])
    secrets = {s.address: bytes([i + 1]) * 32 for i, s in enumerate((a, b, c, val))}  # receipt signing keys
    signing = {s: Account.from_key(k).address for s, k in secrets.items()}

    def register(who: Signer, stake: int, models: list[bytes], cluster: str) -> int:
        deployer.transact(token.functions.transfer(who.address, stake))
        who.transact(token.functions.approve(nodes.address, stake))
        proof = signing_key_proof(secrets[who.address], who.address, w3.eth.chain_id, nodes.address)
        call = nodes.functions.register(stake, models, f"grpc://{cluster}", signing[who.address], cluster, proof)
        receipt = who.transact(call)
        return receipt["blockNumber"]

    at = {
        a.address: register(a, 2 * STAKE, [model_key("m-a"), model_key("m-b")], "east"),
        b.address: register(b, STAKE, [model_key("m-a")], "east"),
        # an unregistered model and a key that is not UTF-8: the first is kept as served, the second dropped
        c.address: register(c, STAKE, [model_key("m-a"), model_key("ghost"), b"\xff" * 32, model_key("m-a")], "west"),
        val.address: register(val, 3 * STAKE, [], "validators"),
    }
    sk = bls.keygen(b"\x05" * 32)
    val.transact(
        nodes.functions.registerValidatorKey(
            g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.prove_possession(sk))
        )
    )
    first = w3.eth.block_number
    before = read_state(w3, models_manifest, first)

    assert before.block == first and before.block_hash == bytes(w3.eth.get_block(first)["hash"])
    assert before.timestamp == w3.eth.get_block(first)["timestamp"]
    assert [n.operator for n in before.nodes] == [bytes.fromhex(s.address[2:]) for s in (a, b, c, val)]
    by_op = {"0x" + n.operator.hex(): n for n in before.nodes}
    for s in (a, b, c, val):
        n = by_op[s.address.lower()]
        assert n.node_id == keccak(n.operator) and n.signing_key == bytes.fromhex(signing[s.address][2:])
        assert n.registered_at == at[s.address] and n.active
    assert [(n.cluster, n.stake) for n in before.nodes] == [
        ("east", 2 * STAKE),
        ("east", STAKE),
        ("west", STAKE),
        ("validators", 3 * STAKE),
    ]
    assert [n.models for n in before.nodes] == [("m-a", "m-b"), ("m-a",), ("m-a", "ghost"), ()]
    assert before.nodes[0].endpoint == "grpc://east"
    registered = {m: RegisteredModel(c, types_pb2.TIER_LLM, 10**15) for m, c in (("m-a", COMMIT_A), ("m-b", COMMIT_B))}
    assert before.models == registered  # "ghost" is served but not registered
    assert [(v.address, v.pubkey, v.stake) for v in before.validators] == [
        (bytes.fromhex(val.address[2:]), bytes(bls.public_key(sk)), 3 * STAKE)
    ]

    # move a cluster, slash one node to nothing (as Settlement), fully unbond another
    a.transact(nodes.functions.setCluster("west"))
    settlement = models_manifest.addresses["Settlement"]
    w3.provider.make_request("anvil_impersonateAccount", [settlement])
    w3.provider.make_request("anvil_setBalance", [settlement, hex(10**18)])
    w3.eth.wait_for_transaction_receipt(nodes.functions.slash(b.address, STAKE).transact({"from": settlement}))
    w3.provider.make_request("anvil_stopImpersonatingAccount", [settlement])
    c.transact(nodes.functions.requestUnbond(STAKE))
    second = w3.eth.block_number

    assert read_state(w3, models_manifest, first) == before  # the old block reads the same
    after = read_state(w3, models_manifest, second)
    assert after.block == second and after.block_hash != before.block_hash
    changed = {0: {"cluster": "west"}, 1: {"stake": 0, "active": False}, 2: {"stake": 0, "active": False}}
    assert after.nodes == tuple(dataclasses.replace(n, **changed.get(i, {})) for i, n in enumerate(before.nodes))
    assert after.validators == before.validators and after.models == before.models

    snapshot = routing_snapshot(after, {after.nodes[0].node_id: NodeStats(uptime_bps=10_000)})
    assert (snapshot.block, snapshot.block_hash) == (second, after.block_hash)
    assert [n.stats for n in snapshot.nodes] == [NodeStats(uptime_bps=10_000), NodeStats(), NodeStats(), NodeStats()]
    assert [(n.cluster, n.active, n.stake) for n in snapshot.nodes] == [
        (r.cluster, r.active, r.stake) for r in after.nodes
    ]
    index = build_index(snapshot)
    assert route(index, b"\x01" * 32, "m-a") == route(index, b"\x01" * 32, "m-a")
    picked = route(index, b"\x01" * 32, "m-a")
    assert (picked.cluster, picked.node_id) == ("west", after.nodes[0].node_id)  # the only routable node


def test_empty_registry(anvil: Anvil, manifest: Manifest) -> None:
    state = read_state(anvil.web3, manifest, anvil.web3.eth.block_number)
    assert isinstance(state, ChainState) and state.nodes == () and state.validators == () and state.models == {}
