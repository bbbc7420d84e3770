"""Which verifying key a zk-tier proof must verify under, and whether it does: the one rule the validators, the
SDK and the prover's Verify call.

The key is the one the receipt's model commitment names (ax0n.zk.models.ZkKeys): a public-weight model's own key
(its commitment binds that key's hash), else the shared private-weight MLP key. Where the model's registration is
known, its ZkMode and verifying-key hash must be that key's. The envelope must then verify for the public inputs
recomputed from the receipt (commitment, input hash, output hash), never the ones the proof carries.
"""

from __future__ import annotations

from ax0n.spec.answers import RegisteredModel
from ax0n.v1 import types_pb2
from ax0n.zk.models import ZkKeys


class MissingKey(LookupError):
    """This verifier holds no key for the model: it cannot decide (abstain), which is not a fault."""


def proof_fault(
    receipt: types_pb2.Receipt, proof: types_pb2.Proof, keys: ZkKeys, registered: RegisteredModel | None = None
) -> str | None:
    """Why `proof` does not prove `receipt`'s output, or None when it does; MissingKey when no key is held here."""
    commitment = bytes(receipt.model_commitment)
    try:
        mode, art = keys.for_commitment(commitment)
    except FileNotFoundError as exc:
        raise MissingKey(str(exc)) from None
    if registered is not None:
        if registered.zk_mode is not None and registered.zk_mode != mode:
            return f"the model is registered in zk mode {registered.zk_mode}, the key for its commitment is mode {int(mode)}"
        if registered.vk_hash and registered.vk_hash != art.vk_hash:
            return "the verifying key for this commitment is not the one the model's registration records"
    if proof.circuit_id != art.spec.name:
        return f"proof is for circuit {proof.circuit_id!r}, not {art.spec.name!r}"
    public = [int.from_bytes(bytes(h), "big") for h in (commitment, receipt.input_hash, receipt.output_hash)]
    verdict = art.verify(bytes(proof.envelope), public)
    return None if verdict else f"zk proof: {verdict.reason}"
