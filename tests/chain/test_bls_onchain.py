"""BLS12-381 on-chain (EIP-2537): PoP key registration and fast-aggregate-verify against blspy signatures."""

from __future__ import annotations

import pytest
from ax0n_tools.devnet.anvil import Anvil
from web3.exceptions import ContractCustomError

from ax0n.chain.bls_points import g1_uncompressed, g2_uncompressed
from ax0n.chain.contracts import Signer
from ax0n.chain.deploy import Manifest
from ax0n.chain.registration import signing_key_proof
from ax0n.spec import bls
from ax0n.spec.params import DEVNET

MESSAGE = b"ax0n batch root \x01" + bytes(15)


def test_register_keys_and_verify_aggregate(anvil: Anvil, manifest: Manifest) -> None:
    w3 = anvil.web3
    deployer = Signer.from_key(w3, anvil.accounts[0].key)
    token = manifest.contract(w3, "Ax0nToken")
    nodes = manifest.contract(w3, "NodeRegistry")
    validators = [Signer.from_key(w3, a.key) for a in anvil.accounts[5:8]]
    secrets = [bls.keygen(bytes([i + 1]) * 32) for i in range(3)]
    stake = DEVNET.min_node_stake

    for signer, sk in zip(validators, secrets, strict=True):
        deployer.transact(token.functions.transfer(signer.address, stake))
        signer.transact(token.functions.approve(nodes.address, stake))
        proof = signing_key_proof(signer.account.key, signer.address, w3.eth.chain_id, nodes.address)
        signer.transact(nodes.functions.register(stake, [], "grpc://validator", signer.address, "default", proof))
        pk, pop = g1_uncompressed(bls.public_key(sk)), g2_uncompressed(bls.prove_possession(sk))
        if signer is validators[0]:  # a PoP of another key is refused
            wrong = g2_uncompressed(bls.prove_possession(secrets[1]))
            with pytest.raises(ContractCustomError):
                nodes.functions.registerValidatorKey(pk, wrong).call({"from": signer.address})
        signer.transact(nodes.functions.registerValidatorKey(pk, pop), label="registerValidatorKey")
        assert nodes.functions.blsKey(signer.address).call() == pk

    addresses = [v.address for v in validators]
    aggregate = bls.sign_many(secrets, MESSAGE)
    assert bls.fast_aggregate_verify([bls.public_key(sk) for sk in secrets], MESSAGE, aggregate)
    sig = g2_uncompressed(aggregate)
    assert nodes.functions.verifyAggregate(addresses, MESSAGE, sig).call()
    assert not nodes.functions.verifyAggregate(addresses[:2], MESSAGE, sig).call()  # a signer left out
    assert not nodes.functions.verifyAggregate(addresses, MESSAGE[:-1] + b"\x01", sig).call()  # another message
    two = g2_uncompressed(bls.sign_many(secrets[:2], MESSAGE))
    assert nodes.functions.verifyAggregate(addresses[:2], MESSAGE, two).call()
    gas = nodes.functions.verifyAggregate(addresses, MESSAGE, sig).estimate_gas()
    assert 100_000 < gas < 1_000_000  # sanity bounds, printed figures come from bench/settlement.py
