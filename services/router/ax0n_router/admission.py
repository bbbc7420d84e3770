"""Admission: every check a request passes before it is routed and appended to a cluster stream.

Order: size limits (cheap, before hashing a large prompt) → signature → deadline → model → fee cap
→ route (`check`, no state touched), then `commit`: one Lua script checks the cluster's backlog,
reserves the fee cap, consumes the nonce and appends the request to its cluster stream, all or
nothing. A request refused with 429 consumed nothing and can be resent unchanged. On Redis Cluster the
client's keys and the cluster stream live in different slots: the reservation and nonce go in first, then
the append, and a refused append undoes both (docs/router.md, Redis Cluster).

Nonces are single-use per client, not sequential: `SET NX ax0n:router:nonce:{client}:{nonce}` (the client
as hash tag, beside its reservations `ax0n:router:escrow:{client}`) with a
TTL past the signed deadline; after that the deadline check refuses the replay. Escrow: each admitted
request reserves its fee cap until its deadline (the escrow is debited only when its settlement batch
lands), so a client cannot spend the same escrow twice across concurrent requests; routers share
reservations in Redis.
"""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from dataclasses import dataclass

import redis.asyncio as redis
from opentelemetry.trace import SpanKind
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ax0n.mempool import Mempool
from ax0n.mempool.streams import EXECUTOR_GROUP, ROUTER_KEYS, requests_stream
from ax0n.runtime import telemetry
from ax0n.spec import answers, fees, request, routing
from ax0n.spec.answers import DEVNET, Deployment
from ax0n.v1 import types_pb2
from ax0n_router import errors
from ax0n_router.registry import Registry

NONCE_SLACK_S = 300  # nonce keys outlive the deadline by this much (clock skew between routers)
VERSION = b"_v"  # field of the reservations hash counting its changes (optimistic concurrency)

# lag + pending of `group` on `stream`, or the stream's length before any executor joined
BACKLOG = """
local function stream_backlog(stream, group)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if groups.err then return 0 end
  local backlog = redis.call('XLEN', stream)
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == group then backlog = (f['lag'] or redis.call('XLEN', stream)) + f['pending'] end
  end
  return backlog
end
"""

# Checks and effects on the client's reservations and nonce (KEYS[1], KEYS[2]); ARGV as COMMIT's
_RESERVE = """
if (redis.call('HGET', KEYS[1], '_v') or '0') ~= ARGV[1] then return 'retry' end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return 'dup' end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[4]) then return 'nonce' end
local n = tonumber(ARGV[7])
for i = 10, 9 + n do redis.call('HDEL', KEYS[1], ARGV[i]) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], '_v', 1)
redis.call('EXPIREAT', KEYS[1], ARGV[5], 'NX')
redis.call('EXPIREAT', KEYS[1], ARGV[5], 'GT')
"""
# KEYS: reservations hash, nonce key, request stream
# ARGV: version, request id, "fee_cap:deadline", nonce ttl, reservations expire-at, maxlen, n stale,
#       executor group, max backlog, stale..., entry fields...
# Backlog (lag + pending of the executor group, or the stream length before any executor joined) is
# checked in the same script as the append, so concurrent routers cannot overshoot the bound.
COMMIT = (
    BACKLOG
    + """
local backlog = stream_backlog(KEYS[3], ARGV[8])
if backlog >= tonumber(ARGV[9]) then return 'busy:' .. backlog end
"""
    + _RESERVE
    + "return redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', unpack(ARGV, 10 + n))\n"
)

# Redis Cluster, where the client's keys and the stream are in different slots: first RESERVE in the client's
# slot ('ok' or why not; KEYS: reservations hash, nonce key; ARGV: as COMMIT's) ...
RESERVE = _RESERVE + "return 'ok'\n"
# ... undone when the append is refused: KEYS: reservations hash, nonce key; ARGV: request id
UNRESERVE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[1], '_v', 1)
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""
# ... then the cluster stream's slot: KEYS: request stream; ARGV: executor group, max backlog, maxlen, fields...
APPEND = (
    BACKLOG
    + """
local backlog = stream_backlog(KEYS[1], ARGV[1])
if backlog >= tonumber(ARGV[2]) then return 'busy:' .. backlog end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
"""
)

# 'taken' when the executor group of KEYS[1] has read past ARGV[1] already (ARGV[2]: the group)
TAKEN = """
local function not_after(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as <= bs)
end
local groups = redis.pcall('XINFO', 'GROUPS', KEYS[1])
if not groups.err then
  for _, g in ipairs(groups) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    if f['name'] == ARGV[2] and not_after(ARGV[1], f['last-delivered-id']) then return 'taken' end
  end
end
"""
# KEYS: old stream, new stream; ARGV: old entry id, executor group, max backlog, maxlen, entry fields...
# Moves an entry no executor has read yet to another cluster's stream; 'taken' if one already read it.
REROUTE = (
    BACKLOG
    + TAKEN
    + """
local backlog = stream_backlog(KEYS[2], ARGV[2])
if backlog >= tonumber(ARGV[3]) then return 'busy:' .. backlog end
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 'taken' end
return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', unpack(ARGV, 5))
"""
)
# Redis Cluster, the old stream's slot: REROUTE's 'taken' check and XDEL ('ok'); KEYS: old stream; ARGV: as REROUTE's
UNROUTE = TAKEN + "if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return 'taken' end\nreturn 'ok'\n"


@dataclass(frozen=True, slots=True)
class Limits:
    max_prompt_bytes: int = 256 * 1024  # canonical input size
    max_tokens: int = 4_096
    max_deadline_horizon_s: int = 3_600  # a deadline further ahead is refused (bounds nonce storage)
    max_backlog: int = 1_000  # per cluster stream: lag + pending of the executor group
    retry_after_s: int = 1
    deployment: Deployment = DEVNET  # the chain and Settlement requests must be signed for


def check_static(req: types_pb2.InferenceRequest, limits: Limits) -> None:
    """Shape and size checks (INVALID_ARGUMENT)."""
    if not req.model_id:
        raise errors.invalid("model_id is required")
    if not req.prompt and not req.messages:
        raise errors.invalid("prompt or messages is required")
    size = len(req.prompt.encode()) + sum(len(m.content.encode()) + len(m.role) for m in req.messages)
    if size > limits.max_prompt_bytes:
        raise errors.invalid(f"prompt is {size} bytes; the limit is {limits.max_prompt_bytes}")
    if not 1 <= req.max_tokens <= limits.max_tokens:
        raise errors.invalid(f"max_tokens must be in [1, {limits.max_tokens}], got {req.max_tokens}")
    if why := answers.deployment_fault(req, limits.deployment):
        raise errors.invalid(why)
    if req.max_latency_ms == 0:
        raise errors.invalid("max_latency_ms must be positive")
    try:
        fee_cap = int(req.fee_cap)
    except ValueError:
        raise errors.invalid(f"fee_cap must be a decimal wei amount, got {req.fee_cap!r}") from None
    if not 0 <= fee_cap < 2**256:
        raise errors.invalid("fee_cap out of uint256 range")


def check_signature(req: types_pb2.InferenceRequest) -> None:
    """Verify the signature, prompt hash and request id; fill request_id when the client left it empty."""
    try:
        request.verify(req)
    except request.InvalidSignature as exc:
        raise errors.unauthenticated(f"signature: {exc}") from None
    if not req.request_id:
        req.request_id = request.request_id(req)


def check_deadline(req: types_pb2.InferenceRequest, now: float, limits: Limits) -> None:
    if req.deadline <= now:
        raise errors.expired(f"deadline {req.deadline} has passed (now {int(now)}); sign a new request")
    if req.deadline > now + limits.max_deadline_horizon_s:
        raise errors.invalid(f"deadline is more than {limits.max_deadline_horizon_s}s ahead")


def check_model_and_fee(req: types_pb2.InferenceRequest, registry: Registry) -> None:
    model = registry.model(req.model_id)
    if model is None:
        raise errors.not_found(f"model {req.model_id!r} is not registered")
    if not model.active:
        raise errors.not_found(f"model {req.model_id!r} is not active")
    needed = fees.base_fee(fees.amount(model.price_per_1k_tokens, "price"), req.max_tokens)
    if int(req.fee_cap) < needed:
        raise errors.payment(f"fee_cap {req.fee_cap} is below the base fee {needed} for {req.max_tokens} tokens")


class Admission:
    """Runs the checks in order and, on success, reserves escrow and consumes the nonce."""

    def __init__(self, registry: Registry, pool: Mempool, limits: Limits = Limits()) -> None:
        self.registry, self.pool, self.limits = registry, pool, limits
        self.redis: redis.Redis = pool.redis
        self._index: routing.RoutingIndex | None = None
        self._index_lock = asyncio.Lock()
        self._commit = self.redis.register_script(COMMIT)
        self._reroute = self.redis.register_script(REROUTE)
        self._cluster = isinstance(self.redis, RedisCluster)
        self._reserve = self.redis.register_script(RESERVE)
        self._unreserve = self.redis.register_script(UNRESERVE)
        self._append = self.redis.register_script(APPEND)
        self._unroute = self.redis.register_script(UNROUTE)
        # one commit per client at a time in this process: concurrent ones would only collide on the version
        self._client_locks: weakref.WeakValueDictionary[bytes, asyncio.Lock] = weakref.WeakValueDictionary()

    async def index(self) -> routing.RoutingIndex:
        """The routing index for the registry's latest snapshot (rebuilt off the event loop when it changes)."""
        snapshot = self.registry.snapshot()
        current = self._index
        if current is None or current.block != snapshot.block or current.block_hash != snapshot.block_hash:
            async with self._index_lock:
                if self._index is None or self._index.block != snapshot.block:
                    self._index = await asyncio.to_thread(routing.build_index, snapshot)
                    # the snapshot and index are ~10^6 long-lived objects: keep them out of the cyclic
                    # collector's full passes, which otherwise stall the event loop for hundreds of ms
                    gc.freeze()
            current = self._index
        assert current is not None
        return current

    async def route(self, req: types_pb2.InferenceRequest, attempt: int = 0) -> types_pb2.RouteDecision:
        index = await self.index()
        try:
            r = routing.route(index, bytes(req.request_id), req.model_id, attempt)
        except routing.NoRoute as exc:
            raise errors.unavailable(str(exc)) from None
        return types_pb2.RouteDecision(
            request_id=req.request_id,
            cluster_id=r.cluster,
            node_id=r.node_id,
            snapshot_block=index.block,
            snapshot_hash=index.snapshot_hash,
            attempt=r.attempt,
        )

    def _overloaded(self, cluster: str, backlog: int) -> errors.Rejection:
        return errors.overloaded(
            f"cluster {cluster} has {backlog} requests waiting (bound {self.limits.max_backlog}); retry later",
            self.limits.retry_after_s,
        )

    async def check(self, req: types_pb2.InferenceRequest) -> types_pb2.RouteDecision:
        """Every check that changes no state; returns the route. Fills request_id when it was empty."""
        check_static(req, self.limits)
        check_signature(req)
        check_deadline(req, time.time(), self.limits)
        check_model_and_fee(req, self.registry)
        return await self.route(req)

    async def commit(self, req: types_pb2.InferenceRequest, decision: types_pb2.RouteDecision) -> str:
        """Check the backlog, reserve the fee cap, consume the nonce and append the request, atomically.

        Returns the stream entry id. Raises RESOURCE_EXHAUSTED (backlog), ALREADY_EXISTS (request or
        nonce seen) or 402 (escrow short).
        """
        client, rid = bytes(req.client), bytes(req.request_id)
        key = reservations_key(client)
        req.route.CopyFrom(decision)
        stream = requests_stream(decision.cluster_id)
        balance = await self.registry.escrow_balance(client)
        lock = self._client_locks.setdefault(client, asyncio.Lock())
        span_name = f"{stream} publish"
        async with lock:
            with telemetry.tracer().start_as_current_span(span_name, kind=SpanKind.PRODUCER) as span:
                span.set_attribute("ax0n.key", rid.hex())
                fields = [part for pair in self.pool.fields(req, rid.hex()).items() for part in pair]
                return await self._commit_loop(req, decision, key, stream, balance, fields)

    async def _commit_loop(
        self,
        req: types_pb2.InferenceRequest,
        decision: types_pb2.RouteDecision,
        key: str,
        stream: str,
        balance: int,
        fields: list[bytes],
    ) -> str:
        client, rid = bytes(req.client), bytes(req.request_id)
        while True:
            now = time.time()
            held = await self.redis.hgetall(key)
            version = held.pop(VERSION, b"0")
            if rid in held:
                raise errors.replay(f"request 0x{rid.hex()} was already admitted")
            live, stale = 0, []
            for field, value in held.items():
                amount, deadline = (int(x) for x in value.split(b":"))
                if deadline <= now:
                    stale.append(field)
                else:
                    live += amount
            if balance - live < int(req.fee_cap):
                raise errors.payment(
                    f"escrow {balance} wei minus {live} reserved by in-flight requests "
                    f"does not cover fee_cap {req.fee_cap}"
                )
            args = [
                version,
                rid,
                f"{int(req.fee_cap)}:{req.deadline}",
                max(1, int(req.deadline - now) + NONCE_SLACK_S),
                req.deadline + NONCE_SLACK_S,
                self.pool.maxlen,
                len(stale),
                EXECUTOR_GROUP,
                self.limits.max_backlog,
                *stale,
                *fields,
            ]
            keys = [key, nonce_key(client, req.nonce), stream]
            if self._cluster:
                outcome = await self._commit_two_slots(keys, args, 10 + len(stale))
            else:
                outcome = (await self._commit(keys=keys, args=args)).decode()
            if outcome.startswith("busy:"):
                raise self._overloaded(decision.cluster_id, int(outcome[5:]))
            if outcome == "nonce":
                raise errors.replay(f"nonce {req.nonce} of 0x{client.hex()} was already used")
            if outcome == "dup":
                raise errors.replay(f"request 0x{rid.hex()} was already admitted")
            if outcome != "retry":  # another router changed the reservations meanwhile: re-read
                return outcome

    async def _commit_two_slots(self, keys: list[str], args: list, fields_at: int) -> str:
        """COMMIT on Redis Cluster: RESERVE in the client's slot, then APPEND in the stream's; a refused append
        undoes the reservation and nonce. An append whose outcome is unknown (its reply lost), or a router that
        dies between the two, leaves them held until the deadline: the request may be in the stream, so neither
        is freed for a replay (the client, who got no answer, re-signs with a new nonce)."""
        outcome = (await self._reserve(keys=keys[:2], args=args[: fields_at - 1])).decode()
        if outcome != "ok":
            return outcome
        appended = (
            await self._append(keys=keys[2:], args=[args[7], args[8], args[5], *args[fields_at - 1 :]])
        ).decode()
        if appended.startswith("busy:"):
            await self._unreserve(keys=keys[:2], args=[args[1]])
        return appended

    async def picked_up(self, cluster: str, entry_id: str) -> bool:
        """True once the cluster's executor group has read the entry (its last-delivered id reached it)."""
        try:
            groups = await self.redis.xinfo_groups(requests_stream(cluster))
        except ResponseError:
            return False
        for g in groups:
            if g["name"].decode() == EXECUTOR_GROUP:
                return _stream_id(g["last-delivered-id"].decode()) >= _stream_id(entry_id)
        return False

    async def reroute(
        self, req: types_pb2.InferenceRequest, decision: types_pb2.RouteDecision, entry_id: str
    ) -> tuple[types_pb2.RouteDecision, str] | None:
        """Move a request no executor has picked up to its next cluster (attempt + 1).

        Returns the new route and entry id; None when it was picked up meanwhile or no cluster is left.
        """
        try:
            moved = await self.route(req, decision.attempt + 1)
        except errors.Rejection:
            return None
        req.route.CopyFrom(moved)
        rid = bytes(req.request_id).hex()
        fields = [part for pair in self.pool.fields(req, rid).items() for part in pair]
        keys = [requests_stream(decision.cluster_id), requests_stream(moved.cluster_id)]
        args = [entry_id, EXECUTOR_GROUP, self.limits.max_backlog, self.pool.maxlen, *fields]
        if self._cluster:
            outcome = await self._reroute_two_slots(keys, args)
        else:
            outcome = (await self._reroute(keys=keys, args=args)).decode()
        if outcome.startswith("busy:"):
            raise self._overloaded(moved.cluster_id, int(outcome[5:]))
        if outcome == "taken":
            req.route.CopyFrom(decision)
            return None
        return moved, outcome

    async def _reroute_two_slots(self, keys: list[str], args: list) -> str:
        """REROUTE on Redis Cluster: the new stream's backlog first (read), then the old entry's XDEL unless
        taken (its slot), then the append (the new stream's). Routers rerouting into one stream at once may pass
        its bound by the requests between their check and append; a router that loses Redis between the delete
        and the append loses the request (its client's deadline answers it)."""
        backlog = await self.pool.backlog(keys[1], EXECUTOR_GROUP)
        if backlog >= self.limits.max_backlog:
            return f"busy:{backlog}"
        if (await self._unroute(keys=keys[:1], args=args[:2])).decode() == "taken":
            return "taken"
        fields = dict(zip(args[4::2], args[5::2], strict=True))
        return (await self.redis.xadd(keys[1], fields, maxlen=self.pool.maxlen, approximate=True)).decode()

    async def release_escrow(self, req: types_pb2.InferenceRequest) -> None:
        await self.redis.hdel(reservations_key(bytes(req.client)), bytes(req.request_id))


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def reservations_key(client: bytes) -> str:
    return f"{ROUTER_KEYS}escrow:{{{client.hex()}}}"


def nonce_key(client: bytes, nonce: int) -> str:
    return f"{ROUTER_KEYS}nonce:{{{client.hex()}}}:{nonce}"
