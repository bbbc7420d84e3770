"""The Validator gRPC service: attester (the keys this process holds), aggregator, batch- and fault-committee
signing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from pydantic import Field

from ax0n.chain.deploy import Manifest, deployment_of
from ax0n.mempool import Mempool
from ax0n.runtime import service
from ax0n.runtime.calls import require_caller
from ax0n.runtime.config import ServiceSettings
from ax0n.runtime.stats import PROFILES as STATS
from ax0n.spec import calls
from ax0n.spec.answers import Deployment
from ax0n.spec.certificate import Committee
from ax0n.spec.params import PROFILES
from ax0n.spec.receipt import receipt_hash
from ax0n.spec.settlement import REFUSED_TRAILER
from ax0n.v1 import types_pb2, validator_pb2, validator_pb2_grpc
from ax0n.zk.models import ZkKeys
from ax0n_validator.aggregator import Aggregator
from ax0n_validator.batch import BatchRefusal, check_batch, poseidon_root, sign_batch
from ax0n_validator.checks import (
    MemberChecks,
    Reexecutor,
    answers_check,
    grpc_reexecutor,
    local_reexecutor,
    receipt_signature,
    route_check,
    zk_proof_check,
)
from ax0n_validator.client import Quorums, ValidatorClient
from ax0n_validator.faults import Refusal, check_fault, sign_fault
from ax0n_validator.keys import Keystore
from ax0n_validator.registry import SnapshotDir, SnapshotSource
from ax0n_validator.snapshots import ChainSnapshots
from ax0n_validator.workers import AggregatorWorker, Attester

log = logging.getLogger(__name__)


class ValidatorSettings(ServiceSettings):
    chain_id: int = Field(31_337, description="chain id: the domain of every signature this validator makes")
    snapshots_dir: str = Field(
        "", description="registry snapshot files <block>.json instead of the chain (--rpc-url with --deployment)"
    )
    rpc_url: str = Field(
        "", description="Ethereum JSON-RPC URL: with --deployment, snapshots are rebuilt from NodeRegistry + node stats"
    )
    deployment: str = Field("", description="deployment manifest JSON written by ax0n.chain.deploy")
    settlement_address: str = Field(
        "",
        description="Settlement address requests must be signed for (default: the --deployment manifest's, else the "
        "devnet's)",
    )
    keys_dir: str = Field("", description="BLS secret keys, one hex *.key file each (empty: aggregator only)")
    aggregate: bool = Field(True, description="also run the aggregator (forms certificates, publishes ax0n:final)")
    models: str = Field(
        "",
        description="LLM-tier models this validator re-executes in-process, comma-separated MODEL_ID=DIR@0xCOMMITMENT "
        "(each refused on mismatch)",
    )
    dtype: str = Field("float32", description="registered dtype the --models re-execute in")
    reexecute_threads: int = Field(2, description="CPU threads of an in-process prefill")
    allowed_callers: str = Field(
        "", description="comma-separated addresses whose signed calls may SignBatch/SignFault (the settlers served)"
    )
    caller_key_file: str = Field(
        "", description="file holding the secp256k1 key this validator signs its Reexecute calls with (hex)"
    )
    reexecutor_target: str = Field(
        "",
        description="gRPC address of a re-executor this validator's operator runs (ax0n-reexecutor), instead of "
        "--models; never an executor (empty with no --models: abstain on the LLM tier)",
    )
    zk_tier: bool = Field(True, description="verify zk-tier proofs (loads ProofCore's MLP circuit artifacts)")


@dataclass(frozen=True, slots=True)
class CommitteeSigner:
    """What SignBatch and SignFault need: this process's keys and the public registry."""

    keys: Keystore
    snapshots: SnapshotSource
    quorums: Quorums
    deployment: Deployment

    def sign(
        self, batch: types_pb2.Batch, receipts: Sequence[types_pb2.FinalizedReceipt]
    ) -> tuple[types_pb2.Attestation | None, Committee | None, list[str], BatchRefusal | None]:
        """(this process's signature for its seats or None, the batch committee (every validator with stake at the
        batch's committee snapshot), its addresses by seat, None) or (None, None, [], why it will not sign)."""
        snap = self.snapshots.get(batch.committee_snapshot_block)
        if snap is None:
            block = batch.committee_snapshot_block
            return None, None, [], BatchRefusal(f"no registry snapshot at block {block}", retry=True)
        params = self.quorums.params
        root = poseidon_root(params, self._operator)
        refusal = check_batch(batch, receipts, self.quorums, self.snapshots.model, root, self.deployment)
        if refusal is not None:
            return None, None, [], refusal
        board = Committee.live(snap.validators, batch.committee_snapshot_block)
        addresses = [snap.addresses[m] for m in board.members]
        if not all(addresses):
            reason = f"snapshot {snap.block} lacks validator addresses: Settlement cannot check this committee"
            return None, None, [], BatchRefusal(reason, retry=True)
        return sign_batch(self.keys, board, batch, self.deployment.chain_id), board, addresses, None

    def sign_fault(self, fault: types_pb2.FaultRecord) -> tuple[types_pb2.Attestation | None, Committee, list[str]]:
        """(this process's signature over the receipt's fault signing root for its seats in the fault committee
        (every validator with stake at the receipt's snapshot), or None when it holds none; that committee; its
        addresses by seat), after checking the record (raises Refusal)."""
        chain_id = self.deployment.chain_id
        board, addresses, digest = check_fault(fault, self.snapshots.get, self.quorums, chain_id)
        return sign_fault(self.keys, board, fault.receipt, digest, chain_id), board, addresses

    def _operator(self, receipt: types_pb2.Receipt) -> bytes | None:
        """The operator the settler credits: the routed node's registered operator, from its snapshot."""
        snap = self.snapshots.get(receipt.route.snapshot_block)
        return snap.operator_of(bytes(receipt.route.node_id)) if snap else None


class ValidatorServicer(validator_pb2_grpc.ValidatorServicer):
    def __init__(
        self,
        settings: ValidatorSettings,
        keys: int,
        aggregator: AggregatorWorker | None,
        signer: CommitteeSigner | None,
    ) -> None:
        self.settings, self.keys, self.aggregator, self.signer = settings, keys, aggregator, signer
        self.allowed = calls.addresses(settings.allowed_callers)

    async def Status(
        self, request: types_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.ServiceStatus:
        aggregating = str(self.aggregator is not None).lower()
        return service.status("validator", self.settings, keys=str(self.keys), aggregator=aggregating)

    async def GetCertificate(
        self, request: validator_pb2.GetCertificateRequest, context: grpc.aio.ServicerContext
    ) -> types_pb2.QuorumCertificate:
        cert = self.aggregator.certificates.get(request.request_id) if self.aggregator else None
        if cert is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no certificate for this request id here")
        return cert

    async def SignBatch(
        self, request: validator_pb2.SignBatchRequest, context: grpc.aio.ServicerContext
    ) -> validator_pb2.SignBatchResponse:
        """This process's batch-committee signature over the batch root, after checking every receipt (for an
        allowed caller: checking a batch costs one pairing check per receipt)."""
        await require_caller(context, "SignBatch", request, self.allowed)
        if self.signer is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this validator holds no keys or registry")
        attestation, board, members, refusal = self.signer.sign(request.batch, list(request.receipts))
        if refusal is not None:
            if refusal.retry:  # it cannot decide yet: ask again later
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"will not sign this batch: {refusal.reason}")
            # not final, or a malformed batch: the receipts named in the trailer are to be left out
            refused = ",".join(rid.hex() for rid in refusal.request_ids)
            context.set_trailing_metadata(((REFUSED_TRAILER, refused),))
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"will not sign this batch: {refusal.reason}")
        assert board is not None
        return validator_pb2.SignBatchResponse(
            signatures=[attestation] if attestation else [], committee=members, stakes=map(str, board.stakes)
        )

    async def SignFault(
        self, request: validator_pb2.SignFaultRequest, context: grpc.aio.ServicerContext
    ) -> validator_pb2.SignFaultResponse:
        """This process's fault-committee signature for Settlement.challengeQuorumFault, after checking the record:
        INVALID_ARGUMENT for evidence that proves no fault, FAILED_PRECONDITION when this validator cannot check it."""
        await require_caller(context, "SignFault", request, self.allowed)
        if self.signer is None:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "this validator holds no keys or registry")
        try:
            attestation, board, members = self.signer.sign_fault(request.fault)
        except Refusal as exc:
            await context.abort(exc.code, f"will not sign this fault: {exc.reason}")
        return validator_pb2.SignFaultResponse(
            signatures=[attestation] if attestation else [], committee=members, stakes=map(str, board.stakes)
        )


def _zk_keys() -> ZkKeys:
    """ProofCore's verifying keys (the shared private-weight MLP key, required, and each public-weight model's),
    never built here: a validator's own setup would not match the provers' keys, and every honest zk-tier proof
    would then fail its check."""
    keys = ZkKeys()
    try:
        keys.private()
    except FileNotFoundError as exc:
        raise SystemExit(
            f"ax0n-validator: {exc}; point AX0N_ARTIFACTS_DIR at ProofCore's artifacts (the provers' ceremony keys), "
            "or run with --zk-tier false to abstain on zk-tier receipts"
        ) from None
    return keys


def reexecutor(settings: ValidatorSettings) -> Reexecutor | None:
    """LLM-tier re-execution on this validator's own compute: in-process models, or its operator's re-executor."""
    if settings.models and settings.reexecutor_target:
        raise SystemExit("ax0n-validator: give --models or --reexecutor-target, not both")
    if settings.models:
        from ax0n.llm.engine import load_engines

        return local_reexecutor(load_engines(settings.models, settings.dtype, settings.reexecute_threads))
    if not settings.reexecutor_target:
        return None
    if not settings.caller_key_file:
        raise ValueError("--reexecutor-target needs --caller-key-file: the re-executor serves only signed calls")
    key = Path(settings.caller_key_file).read_text().strip()
    return grpc_reexecutor(settings.reexecutor_target, key, ca_file=settings.tls_ca_file)


def build(settings: ValidatorSettings) -> service.ServiceSpec:
    components: list = []
    aggregator = signer = None
    deployment = deployment_of(settings.chain_id, settings.settlement_address, settings.deployment)
    keys = Keystore.from_dir(Path(settings.keys_dir)) if settings.keys_dir else Keystore([])
    snapshots: SnapshotSource | None = None
    if settings.snapshots_dir:
        snapshots = SnapshotDir(Path(settings.snapshots_dir))
    elif settings.rpc_url and settings.deployment:
        chain = ChainSnapshots(
            settings.rpc_url,
            Manifest.load(settings.deployment),
            settings.redis_url,
            settings.chain_id,
            STATS[settings.profile],
            PROFILES[settings.profile].routing_rebuild_interval,
        )
        components.append(chain)
        snapshots = chain
    if snapshots is not None:
        pool = Mempool.from_url(settings.redis_url, shards=settings.mempool_shards)
        quorums = Quorums(snapshots.validator_set, PROFILES[settings.profile])
        instance = service.instance_name(settings)
        if keys:
            checks = MemberChecks(
                receipt_signature=receipt_signature,
                route=route_check(snapshots.routing_index, snapshots.node_signer),
                answers=answers_check(snapshots.model, PROFILES[settings.profile], deployment),
                proof=zk_proof_check(_zk_keys(), snapshots.model) if settings.zk_tier else None,
                reexecute=reexecutor(settings),
            )
            client = ValidatorClient(keys, quorums, checks, receipt_hash, settings.chain_id)
            components.append(Attester(pool, client, instance))
            signer = CommitteeSigner(keys, snapshots, quorums, deployment)
        if settings.aggregate:
            aggregator = AggregatorWorker(
                pool,
                Aggregator(quorums, receipt_hash, settings.chain_id),
                instance,
                stats_params=STATS[settings.profile],
                sample_key=next(iter(keys.values()), None),  # latency samples are signed with a registered key
            )
            components.append(aggregator)
    log.info("validator: %d keys, aggregator %s", len(keys), "on" if aggregator else "off")
    servicer = ValidatorServicer(settings, len(keys), aggregator, signer)
    return service.ServiceSpec(
        name="validator",
        register=lambda server: validator_pb2_grpc.add_ValidatorServicer_to_server(servicer, server),
        service_names=["ax0n.v1.Validator"],
        components=components,
    )
