"""Routing stats from the mempool: signed heartbeats give uptime, certified receipts give latency samples.

Producers:
- every executor appends a `Heartbeat` to `ax0n:heartbeat` each `heartbeat_interval_ms`: its routing node
  id and wall clock `signed_ms`, signed with the node's registered signing key (EIP-712 `Heartbeat`, domain
  ax0n/1/chain id, the same domain as requests and receipts; the primary type keeps the three apart);
- an aggregator that certifies a receipt VALID appends a `LatencySample` to `ax0n:latency` after checking
  that the request entry and the exec entry the receipt carries (`measure_latency`) hold that request and that
  receipt; the latency is the difference of their Redis-assigned entry ids. It signs the sample with its
  registered validator BLS key (`sign_sample`, over `ax0n.spec.routing.latency_signing_root`).

Reading (`StatsReader.read`) is deterministic: it waits until the Redis server's clock is past the window's
end plus `settle_ms`, after which an auto-id XADD can no longer land in the window, then reads both streams
over the window and reduces them with pure functions (`ax0n.spec.routing.window_stats`). Every reader of one
Redis therefore computes the same NodeStats for a window, however late it reads (within `retention_ms`).

A heartbeat counts only if its signature recovers to the node's registered signing address and its entry id's
milliseconds are within `max_skew_ms` of its `signed_ms`: Redis, not the node, assigns entry ids, so a heartbeat
cannot be kept and appended later to cover a slot the node was down in. A latency sample counts only if it is
for the reader's chain and its signature verifies under a key of the snapshot's validator set (`validators`);
unsigned, forged or unregistered samples are ignored (they neither count nor shadow a genuine one). Samples are
combined by request id (every aggregator publishes one; `ax0n.spec.routing.agreed_samples`): a request counts
in the window holding its first valid sample, looking back `latency_dedup_ms` before the window for earlier ones.

The parameters are not in `ax0n.spec.params`: that table is mirrored on-chain by ProtocolParams (deployed from
`Params.as_dict()`), and these are operational settings of the mesh's readers and writers, not governed values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import redis.asyncio as redis
from eth_account import Account
from eth_utils import keccak

from ax0n.mempool import entry as wire
from ax0n.mempool.entry import MalformedEntry
from ax0n.mempool.streams import EXECUTED, HEARTBEAT, LATENCY, REQUESTS_PREFIX, requests_stream
from ax0n.spec import bls
from ax0n.spec import receipt as receipts
from ax0n.spec.request import DOMAIN_NAME, DOMAIN_VERSION, InvalidSignature, _recover_digest
from ax0n.spec.routing import (
    LatencySample,
    LivenessBeat,
    NodeStats,
    SampleReport,
    agreed_samples,
    latency_signing_root,
    window_stats,
)
from ax0n.v1 import types_pb2

HEARTBEAT_TYPES = {
    "Heartbeat": [
        {"name": "nodeId", "type": "bytes32"},
        {"name": "signedMs", "type": "uint64"},
        {"name": "chainId", "type": "uint64"},
    ]
}
HEARTBEAT_TYPEHASH = keccak(b"Heartbeat(bytes32 nodeId,uint64 signedMs,uint64 chainId)")
# Heartbeats move no value, so their domain is the chain's alone (no verifyingContract): a node registered in two
# deployments on one chain proves its liveness to both with one signature, which is true of it.
_CHAIN_DOMAIN_TYPEHASH = keccak(b"EIP712Domain(string name,string version,uint256 chainId)")
PAGE = 10_000  # entries per XRANGE call


@dataclass(frozen=True, slots=True)
class StatsParams:
    """Operational parameters of the stats pipeline (milliseconds)."""

    heartbeat_interval_ms: int = 5_000  # how often an executor heartbeats
    liveness_slot_ms: int = 30_000  # uptime granularity: six intervals, so a late or lost heartbeat costs nothing
    max_skew_ms: int = 5_000  # |signed_ms - entry id ms| above this: the heartbeat does not count
    settle_ms: int = 2_000  # the reader waits until Redis TIME > window end + this (clock steps, replica lag)
    retention_ms: int = 26 * 3_600_000  # writers trim entries older than this (MINID): a day of windows + slack
    latency_dedup_ms: int = 600_000  # how far before a window the reader looks for earlier copies of a sample
    window_ms: int = 3_600_000  # a snapshot's stats window: the hour ending at its block's timestamp


DEFAULT = StatsParams()
# The devnet's readers and writers: one-second heartbeats, so nodes become routable within a minute.
DEVNET = StatsParams(
    heartbeat_interval_ms=1_000, liveness_slot_ms=3_000, max_skew_ms=2_000, settle_ms=1_000, window_ms=20_000
)
PROFILES = {"mainnet": DEFAULT, "devnet": DEVNET}


class Registration(NamedTuple):
    """What the chain says about a node, as the caller passes it to the reader."""

    signer: bytes  # 20-byte registered signing address
    registered_ms: int  # when it registered (its block's timestamp, Unix ms); uptime counts from here


def entry_ms(entry_id: str | bytes) -> int:
    """The milliseconds part of a Redis stream entry id (`ms-seq`)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


# ---- heartbeats ----


def heartbeat_digest(node_id: bytes, signed_ms: int, chain_id: int) -> bytes:
    """EIP-712 digest of Heartbeat(nodeId, signedMs, chainId) in the ax0n/1/chain-id domain."""
    if len(node_id) != 32:
        raise ValueError(f"node_id must be 32 bytes, got {len(node_id)}")
    body = keccak(HEARTBEAT_TYPEHASH + node_id + signed_ms.to_bytes(32, "big") + chain_id.to_bytes(32, "big"))
    domain = keccak(
        _CHAIN_DOMAIN_TYPEHASH + keccak(DOMAIN_NAME.encode()) + keccak(DOMAIN_VERSION.encode()) + chain_id.to_bytes(32)
    )
    return keccak(b"\x19\x01" + domain + body)


def typed_data(hb: types_pb2.Heartbeat) -> dict:
    """The heartbeat as EIP-712 typed data (what a wallet's eth_signTypedData_v4 signs)."""
    return {
        "types": HEARTBEAT_TYPES,
        "primaryType": "Heartbeat",
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": hb.chain_id},
        "message": {"nodeId": bytes(hb.node_id), "signedMs": hb.signed_ms, "chainId": hb.chain_id},
    }


def sign_heartbeat(
    node_id: bytes,
    signed_ms: int,
    chain_id: int,
    private_key: bytes | str,
    *,
    models: Sequence[str] = (),
    in_flight: int = 0,
) -> types_pb2.Heartbeat:
    """A heartbeat signed by `private_key`; `models` and `in_flight` are informational and not signed."""
    signature = Account.from_key(private_key).unsafe_sign_hash(heartbeat_digest(node_id, signed_ms, chain_id))
    return types_pb2.Heartbeat(
        node_id=node_id,
        signed_ms=signed_ms,
        chain_id=chain_id,
        signature=bytes(signature.signature),
        models=list(models),
        in_flight=in_flight,
    )


def heartbeat_signer(hb: types_pb2.Heartbeat) -> bytes:
    """The 20-byte address that signed `hb`; raises InvalidSignature (or ValueError for a bad node id)."""
    return _recover_digest(bytes(hb.signature), heartbeat_digest(bytes(hb.node_id), hb.signed_ms, hb.chain_id))


async def publish_heartbeat(
    client: redis.Redis, hb: types_pb2.Heartbeat, *, trim_before_ms: int | None = None, stream: str = HEARTBEAT
) -> str:
    """Append `hb` with a Redis-assigned id (never an explicit one: the id is the proof of when it was appended),
    trimming entries older than `trim_before_ms` (approximately); returns the entry id."""
    fields = wire.encode(hb, bytes(hb.node_id).hex(), {})
    if trim_before_ms is None:
        entry_id = await client.xadd(stream, fields)
    else:
        entry_id = await client.xadd(stream, fields, minid=str(max(trim_before_ms, 0)), approximate=True)
    return entry_id.decode()


@dataclass(frozen=True, slots=True)
class _Checked:
    node_id: bytes
    signer: bytes | None  # None: malformed or the signature does not recover
    signed_ms: int
    chain_id: int


def _check_heartbeat(fields: dict[bytes, bytes]) -> _Checked:
    try:
        hb = wire.decode(HEARTBEAT, "0-0", fields, types_pb2.Heartbeat).message
    except MalformedEntry:
        return _Checked(b"", None, 0, 0)
    try:
        signer: bytes | None = heartbeat_signer(hb)
    except (InvalidSignature, ValueError):
        signer = None
    return _Checked(bytes(hb.node_id), signer, hb.signed_ms, hb.chain_id)


def valid_beats(
    checked: Iterable[tuple[int, _Checked]],
    nodes: Mapping[bytes, Registration],
    chain_id: int,
    params: StatsParams,
) -> list[LivenessBeat]:
    """The beats among (entry ms, checked heartbeat) that count: right chain, registered signer, within skew."""
    out = []
    for at_ms, c in checked:
        node = nodes.get(c.node_id)
        if (
            node is not None
            and c.signer is not None
            and c.signer == node.signer
            and c.chain_id == chain_id
            and abs(c.signed_ms - at_ms) <= params.max_skew_ms
        ):
            out.append(LivenessBeat(c.node_id, at_ms))
    return out


# ---- latency samples ----


def sign_sample(sample: types_pb2.LatencySample, key: bls.SecretKey, chain_id: int) -> types_pb2.LatencySample:
    """`sample` for `chain_id`, signed with the aggregator's validator key."""
    sample.chain_id = chain_id
    sample.signer = bls.public_key(key)
    sample.signature = bls.sign(key, latency_signing_root(sample))
    return sample


def sample_signer(sample: types_pb2.LatencySample, chain_id: int) -> bytes | None:
    """The BLS public key that signed `sample` for `chain_id`, or None (another chain, or no valid signature)."""
    if sample.chain_id != chain_id:
        return None
    try:
        valid = bls.verify(bytes(sample.signer), latency_signing_root(sample), bytes(sample.signature))
    except (bls.InvalidKey, bls.InvalidSignature, ValueError):
        return None
    return bytes(sample.signer) if valid else None


def valid_samples(
    rows: Iterable[tuple[int, types_pb2.LatencySample, bytes | None]], validators: Collection[bytes], start_ms: int
) -> list[LatencySample]:
    """The samples among (entry ms, sample, verified signer) that count: signed by a key in `validators`, combined
    per request (ax0n.spec.routing.agreed_samples); requests first sampled at or before `start_ms` are left out."""
    reports = [
        SampleReport(bytes(s.request_id), signer, bytes(s.node_id), at_ms, s.latency_ms)
        for at_ms, s, signer in rows
        if signer is not None and signer in validators
    ]
    return agreed_samples(reports, start_ms)


async def measure_latency(
    client: redis.Redis,
    item: types_pb2.ProvedReceipt,
    *,
    requests_prefix: str = REQUESTS_PREFIX,
    executed: str = EXECUTED,
) -> types_pb2.LatencySample | None:
    """The latency sample of `item`, a receipt about to be certified VALID, or None when it cannot be measured:
    no entry ids carried, the request entry (on `{requests_prefix}{{cluster}}`) does not hold the receipt's request
    id, or the exec entry does not hold this receipt (either trimmed, or the ids are wrong)."""
    receipt = item.receipt
    if not (item.request_entry_id and item.exec_entry_id):
        return None
    stream = requests_stream(receipt.route.cluster_id, requests_prefix)
    async with client.pipeline(transaction=False) as pipe:
        pipe.xrange(stream, item.request_entry_id, item.request_entry_id)
        pipe.xrange(executed, item.exec_entry_id, item.exec_entry_id)
        req_rows, exec_rows = await pipe.execute()
    if not (req_rows and exec_rows):
        return None
    try:
        request = wire.decode(stream, item.request_entry_id, req_rows[0][1], types_pb2.InferenceRequest).message
        done = wire.decode(executed, item.exec_entry_id, exec_rows[0][1], types_pb2.ExecutedReceipt).message
    except MalformedEntry:
        return None
    if bytes(request.request_id) != bytes(receipt.request_id):
        return None
    if receipts.receipt_hash(done.receipt) != receipts.receipt_hash(receipt):
        return None
    latency = entry_ms(item.exec_entry_id) - entry_ms(item.request_entry_id)
    if latency < 0:
        return None
    return types_pb2.LatencySample(
        node_id=receipt.route.node_id,
        request_id=receipt.request_id,
        latency_ms=latency,
        cluster_id=receipt.route.cluster_id,
        request_entry_id=item.request_entry_id,
        exec_entry_id=item.exec_entry_id,
    )


# ---- the deterministic reader ----


async def server_ms(client: redis.Redis) -> int:
    """The Redis server's clock, Unix milliseconds (TIME)."""
    seconds, micros = await client.time()
    return int(seconds) * 1_000 + int(micros) // 1_000


async def wait_until_past(client: redis.Redis, ms: int, poll_s: float = 0.05) -> None:
    """Return once the Redis server's clock is past `ms`."""
    while (now := await server_ms(client)) <= ms:
        await asyncio.sleep(max(poll_s, min((ms - now + 1) / 1_000, 1.0)))


async def _xrange(client: redis.Redis, stream: str, after_ms: int, end_ms: int) -> list[tuple[bytes, dict]]:
    """Every entry of `stream` with id milliseconds in (after_ms, end_ms], paging through XRANGE."""
    out: list[tuple[bytes, dict]] = []
    low = str(after_ms + 1)
    while True:
        page = await client.xrange(stream, low, str(end_ms), count=PAGE)
        out += page
        if len(page) < PAGE:
            return out
        low = "(" + page[-1][0].decode()


class StatsReader:
    """Reads NodeStats for windows from one Redis; keeps each heartbeat entry's recovered signer, so reading
    overlapping windows recovers each signature once (an entry id's content never changes)."""

    def __init__(
        self,
        client: redis.Redis,
        chain_id: int,
        params: StatsParams = DEFAULT,
        *,
        heartbeats: str = HEARTBEAT,
        latency: str = LATENCY,
    ) -> None:
        self.client, self.chain_id, self.params = client, chain_id, params
        self.heartbeats, self.latency = heartbeats, latency
        self._checked: dict[bytes, _Checked] = {}
        self._signers: dict[bytes, tuple[types_pb2.LatencySample | None, bytes | None]] = {}

    async def read(
        self,
        nodes: Mapping[bytes, Registration],
        start_ms: int,
        end_ms: int,
        validators: Collection[bytes] = frozenset(),
    ) -> dict[bytes, NodeStats]:
        """NodeStats over (start_ms, end_ms] for each node in `nodes`, once nothing more can land in the window;
        latency samples count only when signed by a key in `validators` (the snapshot's validator set)."""
        if end_ms <= start_ms:
            raise ValueError(f"empty window ({start_ms}, {end_ms}]")
        await wait_until_past(self.client, end_ms + self.params.settle_ms)
        beat_rows = await _xrange(self.client, self.heartbeats, start_ms, end_ms)
        sample_rows = await _xrange(self.client, self.latency, start_ms - self.params.latency_dedup_ms, end_ms)
        checked = [(entry_ms(eid), self._check(eid, fields)) for eid, fields in beat_rows]
        self._checked = {eid: self._checked[eid] for eid, _ in beat_rows}  # keep the latest window's only
        beats = valid_beats(checked, nodes, self.chain_id, self.params)
        signed = [(entry_ms(eid), *self._sample(eid, fields)) for eid, fields in sample_rows]
        self._signers = {eid: self._signers[eid] for eid, _ in sample_rows}
        samples = valid_samples([row for row in signed if row[1] is not None], validators, start_ms)
        registered = {node_id: reg.registered_ms for node_id, reg in nodes.items()}
        return window_stats(beats, samples, registered, start_ms, end_ms, self.params.liveness_slot_ms)

    def _sample(
        self, entry_id: bytes, fields: dict[bytes, bytes]
    ) -> tuple[types_pb2.LatencySample | None, bytes | None]:
        """The entry's sample (None: malformed) and its verified signer, recovered once per entry id."""
        if entry_id not in self._signers:
            try:
                sample = wire.decode(self.latency, entry_id.decode(), fields, types_pb2.LatencySample).message
            except MalformedEntry:
                self._signers[entry_id] = (None, None)
            else:
                self._signers[entry_id] = (sample, sample_signer(sample, self.chain_id))
        return self._signers[entry_id]

    def _check(self, entry_id: bytes, fields: dict[bytes, bytes]) -> _Checked:
        c = self._checked.get(entry_id)
        if c is None:
            c = self._checked[entry_id] = _check_heartbeat(fields)
        return c
