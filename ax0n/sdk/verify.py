"""Local verification of a result's evidence (`verify=True`): what each check proves is in docs/sdk.md.

Checks, in order; the first that fails raises VerificationError naming it:

- request: the receipt answers the request this client signed (request id, model, client, fee cap, chain)
  and charges at most the signed fee cap;
- model: the receipt's model commitment and tier are the registered ones (as the router's ListModels reports);
- receipt: the executor node's secp256k1 signature over the EIP-712 receipt hash (by its `node_id` key);
- io: the receipt's input/output hashes are those of this request and this output;
- proof: zk tier — the 288-byte Groth16 envelope verifies against the local verifying key the receipt's model
  commitment names (a public-weight model's own key, else the shared private-weight MLP key: ax0n.spec.zkproof)
  with public inputs recomputed here (commitment, input hash, output hash), never the ones the proof carries;
  LLM tier — a fingerprint is present and, given the registered model, in the encoding, chunk size and k its
  registered precision fixes (`ax0n.spec.fingerprint.receipt_fault`; its re-execution is what the quorum
  certificate attests);
- certificate: VALID verdict over this request and receipt hash, BLS aggregate of at least 2/3 of the quorum
  that the validator set at the route's snapshot yields for this request;
- settlement (when present): the receipt's batch leaf (ax0n.spec.settlement.Leaf) is included under the batch root,
  and, when the settlement carries the batch proof's public inputs, the batch's Groth16 proof verifies with
  them and they name this batch id and root; with `chain=ChainCheck(...)`, the transaction succeeded in the
  stated block on the Settlement contract and `Settlement.batches(seq)` holds that root.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from web3 import Web3
from web3.exceptions import TransactionNotFound

from ax0n.sdk.errors import VerificationError
from ax0n.sdk.result import InferenceResult
from ax0n.spec import answers, binding, finality, settlement, zkproof
from ax0n.spec import fingerprint as fp
from ax0n.spec import receipt as receipts
from ax0n.spec import request as requests
from ax0n.spec.committee import Validator
from ax0n.spec.params import MAINNET, Params
from ax0n.v1 import types_pb2
from ax0n.zk import artifacts
from ax0n.zk.models import ZkKeys

ValidatorSetSource = finality.ValidatorSets  # snapshot block -> (block hash, validator set), None when unknown


@dataclass(frozen=True, slots=True)
class Verification:
    """What `verify` checked (all passed) and what it could not check, with the reason."""

    checked: tuple[str, ...]
    unchecked: tuple[str, ...]


def _fail(check: str, why: str) -> VerificationError:
    return VerificationError(f"{check}: {why}")


def check_request(result: InferenceResult) -> None:
    """The receipt answers the request this client signed (ax0n.spec.answers.consistency_fault)."""
    if result.request_id != bytes(result.request.request_id):
        raise _fail("request", "the result answers another request id")
    if why := answers.consistency_fault(result.receipt, result.request):
        raise _fail("request", why)
    if int(result.receipt.fee or "0") > int(result.request.fee_cap or "0"):
        raise _fail("request", f"fee {result.receipt.fee} exceeds the signed fee cap {result.request.fee_cap}")


def registered(model: types_pb2.ModelInfo) -> answers.RegisteredModel:
    """The router's ListModels entry as the registration the receipt is checked against."""
    return answers.RegisteredModel(bytes(model.commitment), model.tier, int(model.price_per_1k_tokens or "0"))


def check_model(result: InferenceResult, model: types_pb2.ModelInfo, params: Params) -> None:
    """The receipt's commitment and tier are the registered model's, and its fee the fee rule's at its price."""
    if why := answers.registration_fault(result.receipt, registered(model), params):
        raise _fail("model", why)


def check_receipt_signature(result: InferenceResult) -> None:
    r = result.receipt
    try:
        receipts.verify(r)
    except (requests.InvalidSignature, ValueError) as exc:
        raise _fail("receipt", str(exc)) from None
    if bytes(r.route.request_id) != bytes(r.request_id):
        raise _fail("receipt", "the receipt's route decision is for another request")


def check_io(result: InferenceResult) -> None:
    why = binding.io_mismatch(result.receipt, result.request, result.output)
    if why:
        raise _fail("io", f"receipt's {why}")


SETTLEMENT_ABI = [
    {
        "type": "function",
        "name": "batches",
        "stateMutability": "view",
        "inputs": [{"name": "batchId", "type": "uint64"}],
        "outputs": [
            {"name": "root", "type": "bytes32"},
            {"name": "blockNumber", "type": "uint64"},
            {"name": "count", "type": "uint32"},
            {"name": "totalFee", "type": "uint256"},
        ],
    }
]


@dataclass
class ChainCheck:
    """Reads a settlement back from L1: the transaction succeeded, called the Settlement contract in the stated
    block, and `Settlement.batches(seq)` holds the batch root the receipt is included under."""

    web3: Web3
    settlement_address: str

    def check(self, s: types_pb2.Settlement, root: int) -> None:
        try:
            tx = self.web3.eth.get_transaction_receipt(Web3.to_hex(bytes(s.tx_hash)))
        except TransactionNotFound:
            raise _fail("settlement", f"transaction 0x{bytes(s.tx_hash).hex()} is not on chain") from None
        if tx["status"] != 1:
            raise _fail("settlement", "settlement transaction reverted")
        if (tx["to"] or "").lower() != self.settlement_address.lower():
            raise _fail("settlement", "transaction did not call the Settlement contract")
        if tx["blockNumber"] != s.block_number:
            raise _fail("settlement", f"transaction is in block {tx['blockNumber']}, not {s.block_number}")
        contract = self.web3.eth.contract(Web3.to_checksum_address(self.settlement_address), abi=SETTLEMENT_ABI)
        on_chain_root, block, _count, _fee = contract.functions.batches(int.from_bytes(bytes(s.batch_id), "big")).call()
        if int.from_bytes(on_chain_root, "big") != root:
            raise _fail("settlement", "Settlement.batches holds another root for this batch")
        if block != s.block_number:
            raise _fail("settlement", "Settlement.batches records another block for this batch")


@dataclass
class Verifier:
    """Verifies results locally. `validator_sets` gives the validator set at a snapshot block (for the
    certificate); `artifacts_dir` holds the Groth16 verifying keys (default: ax0n.zk.artifacts.cache_dir())."""

    validator_sets: ValidatorSetSource | None = None
    params: Params = MAINNET
    artifacts_dir: Path | None = None
    chain: ChainCheck | None = None  # reads settlements back from L1 when set
    # the operator a batch credits for a receipt signed by node key `node_id` (NodeRegistry: signer -> operator);
    # None: the node id itself
    operator_of: Callable[[bytes], bytes] | None = None
    _artifacts: dict[str, artifacts.Artifacts] = field(default_factory=dict, repr=False)
    _keys: ZkKeys | None = field(default=None, repr=False)

    def circuit(self, circuit_id: str, check: str = "proof") -> artifacts.Artifacts:
        """The verifying artifacts of `circuit_id`; VerificationError (under `check`) when it is unknown here."""
        if circuit_id not in self._artifacts:
            spec = artifacts.CIRCUITS.get(circuit_id)
            if spec is None:
                raise _fail(check, f"unknown circuit {circuit_id!r}")
            try:
                self._artifacts[circuit_id] = artifacts.load(spec, build=False, root=self.artifacts_dir)
            except FileNotFoundError as exc:
                raise _fail(check, str(exc)) from None
        return self._artifacts[circuit_id]

    def check_proof(self, result: InferenceResult, model: answers.RegisteredModel | None = None) -> None:
        """zk tier: the Groth16 envelope; LLM tier: a fingerprint shaped as the registered `model`'s precision fixes
        it (ax0n.spec.fingerprint.receipt_fault; its re-execution is what the certificate attests)."""
        r = result.receipt
        if r.tier != types_pb2.TIER_ZK:
            if not r.HasField("fingerprint") or not r.fingerprint.chunks:
                raise _fail("proof", "LLM-tier receipt carries no fingerprint")
            if model is not None and (why := fp.receipt_fault(r, model.dtype)):
                raise _fail("proof", why)
            return
        if not result.raw.HasField("proof"):
            raise _fail("proof", "zk-tier result carries no proof")
        if self._keys is None:
            self._keys = ZkKeys(self.artifacts_dir)
        try:
            why = zkproof.proof_fault(r, result.raw.proof, self._keys, model)
        except zkproof.MissingKey as exc:
            raise _fail("proof", f"no verifying key here for this model: {exc}") from None
        if why:
            raise _fail("proof", why)

    def check_certificate(self, result: InferenceResult) -> None:
        cert, r = result.certificate, result.receipt
        if cert is None:
            raise _fail("certificate", "result carries no quorum certificate")
        if self.validator_sets is None:
            raise _fail("certificate", "no validator set source configured (Verifier(validator_sets=...))")
        try:
            why = finality.certificate_fault(r, cert, self.validator_sets, r.chain_id, self.params)
        except finality.Undecided as exc:
            raise _fail("certificate", str(exc)) from None
        if why:
            raise _fail("certificate", why)

    def check_settlement(self, result: InferenceResult) -> list[str]:
        """Inclusion of the receipt's leaf under the batch root, and the batch proof when its public inputs came
        with it; returns what could not be checked."""
        s, r = result.settlement, result.receipt
        assert s is not None
        unchecked = []
        seq = int.from_bytes(bytes(s.batch_id), "big")
        if s.batch_seq and s.batch_seq != seq:
            raise _fail("settlement", "batch id and batch sequence number differ")
        path, why = _words(s.merkle_path)
        if path is None:
            raise _fail("settlement", f"merkle path {why}")
        root = int.from_bytes(bytes(s.batch_root), "big") if s.batch_root else None
        words, why = _words(s.batch_proof.public_inputs)
        if words is None:
            raise _fail("settlement", f"batch proof public input {why}")
        if words:
            if len(words) < 3:
                raise _fail("settlement", "batch proof has too few public inputs")
            if words[0] != seq:
                raise _fail("settlement", "batch proof is for another batch id")
            if root is not None and root != words[1]:
                raise _fail("settlement", "batch root differs from the root the batch proof proves")
            root = words[1]
            if not 0 <= s.leaf_index < words[2]:
                raise _fail("settlement", f"leaf index {s.leaf_index} outside the batch's {words[2]} receipts")
        if root is None:
            raise _fail("settlement", "settlement names no batch root")
        try:
            leaf = settlement.Leaf(
                bytes(r.request_id),
                receipts.receipt_hash(r),
                self.operator_of(bytes(r.node_id)) if self.operator_of else bytes(r.node_id),
                bytes(r.client),
                int(r.fee or "0"),
                int(r.fee_cap or "0"),
            )
        except ValueError as exc:
            raise _fail("settlement", f"receipt cannot be a batch leaf: {exc}") from None
        if not settlement.verify_inclusion(leaf, s.leaf_index, path, root):
            raise _fail("settlement", "receipt is not included under the batch root")
        if words:
            circuit_id = s.batch_proof.circuit_id or f"batch{1 << len(path)}"
            verdict = self.circuit(circuit_id, "settlement: batch proof").verify(bytes(s.batch_proof.envelope), words)
            if not verdict:
                raise _fail("settlement", f"batch proof: {verdict.reason}")
        else:
            unchecked.append("settlement batch proof: its public inputs did not come with the settlement")
        if not s.tx_hash:
            unchecked.append(f"settlement transaction: batch not on chain yet (state {s.state or 'unknown'})")
        elif self.chain is not None:
            self.chain.check(s, root)
        else:
            unchecked.append("settlement transaction: not read back from the chain (Verifier(chain=...) unset)")
        return unchecked

    def verify(self, result: InferenceResult, model: types_pb2.ModelInfo | None = None) -> Verification:
        """Run every check that applies; raise VerificationError on the first failure."""
        check_request(result)
        checked = ["request"]
        unchecked = []
        if model is not None:
            check_model(result, model, self.params)
            checked.append("model")
        else:
            unchecked.append("model: no registered model info")
        check_receipt_signature(result)
        check_io(result)
        self.check_proof(result, registered(model) if model is not None else None)
        self.check_certificate(result)
        checked += ["receipt", "io", "proof" if result.tier == types_pb2.TIER_ZK else "fingerprint", "certificate"]
        if result.tier != types_pb2.TIER_ZK:
            unchecked.append("fingerprint re-execution: attested by the certificate, not re-run locally")
        if result.settlement is not None:
            unchecked += self.check_settlement(result)
            checked.append("settlement")
        else:
            unchecked.append("settlement: not settled yet")
        return Verification(tuple(checked), tuple(unchecked))


def _words(values: Sequence[bytes]) -> tuple[list[int] | None, str]:
    out = []
    for i, v in enumerate(values):
        if len(v) != 32:
            return None, f"{i} is not 32 bytes"
        out.append(int.from_bytes(bytes(v), "big"))
    return out, ""


def static_validator_sets(sets: Mapping[int, tuple[bytes, Sequence[Validator]]]) -> ValidatorSetSource:
    """A ValidatorSetSource over a fixed table {snapshot block: (block hash, validators)}."""
    return sets.get
