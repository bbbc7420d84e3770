"""Least-privilege Redis users, one per role (Redis 7 ACL): the keys each service may read and write.

Every service connects as its own user, so a party that holds one role's password can touch only that role's
keys: an executor cannot append to `ax0n:final`, delete the router's nonces and reservations, or write the
settler's journal (NOPERM). What a role may write it may still write wrongly: consumers verify what they read.

A global stream brings its shards (`{stream}:{tag}`, ax0n.mempool.streams); a consumed stream brings its
dead-letter stream and the consumer's idempotency markers and error counters (`ax0n:done:…`, `ax0n:err:…`, named
from `slot_name(stream)`) with it. Commands: everything but the dangerous ones
(`-@dangerous`: FLUSHALL, KEYS, CONFIG, DEBUG, …), and no pub/sub channels.

An executor only consumes the request streams: a Redis 7 selector grants it the commands the consumer runs on
them (read, claim, acknowledge, trim what every group acknowledged, the scripts that do so) and no XADD, so it
cannot append a copy of a request and cite that later entry to shorten its measured latency (docs/router.md).

The stats user is also the autoscaler's (KEDA's redis-streams trigger): on the streams executors and provers are
scaled by it may ask only for the backlog (XINFO GROUPS, XPENDING, XLEN), never an entry's content, through a
Redis 7 selector.
"""

from __future__ import annotations

from ax0n.mempool import streams as s

ROLES = ("router", "executor", "prover", "validator", "settler", "stats")


def _stored(stream: str) -> list[str]:
    """`stream` (a name or a `prefix*` pattern of tagged names) and, for a name, its shards."""
    return [stream] if stream.endswith("*") else [stream, f"{stream}:{{*"]


def _beside(stream: str) -> list[str]:
    """The keys a consumer of `stream` writes besides the stream and its outputs: its dead letters, idempotency
    markers and error counters (a shard's dead letters are its own `{shard}:dead`, within `{stream}:{*`)."""
    if stream.endswith("*"):  # tagged names: what is named after them starts with them
        return [f"{stream}{s.DEAD_LETTER_SUFFIX}", f"ax0n:done:{stream}", f"ax0n:err:{stream}"]
    return [
        s.dead_letter_stream(stream),
        *(f"ax0n:{kind}:{name}" for kind in ("done", "err") for name in (f"{{{stream}}}:*", f"{stream}:{{*")),
    ]


def _consumed(stream: str) -> list[str]:
    return [*_stored(stream), *_beside(stream)]


# What ax0n.mempool's consumer runs on its input stream, and nothing that appends to it.
_CONSUME = "+xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create +xgroup|createconsumer +xinfo|groups"
_CONSUME += " +xlen +xrange +xtrim +evalsha +eval"


_STATS = [s.HEARTBEAT, s.LATENCY]  # signed heartbeats and certified latency samples: every snapshot builder reads
_REQUESTS = s.REQUESTS_PREFIX + "*"
_TOKENS = s.TOKENS_PREFIX + "*"
_SENT = "ax0n:sent:*"  # cross-slot send markers (Redis Cluster)
_SCALED = [_REQUESTS, *_stored(s.EXECUTED)]  # the streams KEDA scales executors and provers on (every shard)
_BACKLOG = ["+xinfo|groups", "+xpending", "+xlen"]  # their backlog, no entry's content

# role -> (read-write patterns, read-only patterns)
GRANTS: dict[str, tuple[list[str], list[str]]] = {
    "router": ([_REQUESTS, s.ROUTER_KEYS + "*", _TOKENS, *_consumed(s.FINAL)], _STATS),
    "executor": ([*_beside(_REQUESTS), *_stored(s.EXECUTED), _TOKENS, s.HEARTBEAT, _SENT], []),
    "prover": ([*_consumed(s.EXECUTED), *_stored(s.PROVED), *_stored(s.FAULTS), _SENT], []),
    "validator": (
        [
            *_consumed(s.PROVED),
            *_consumed(s.ATTESTATIONS),
            *_stored(s.FINAL),
            *_stored(s.FAULTS),
            s.LATENCY,
            _SENT,
        ],
        [s.HEARTBEAT],
    ),
    "settler": ([*_consumed(s.FINAL), *_consumed(s.FAULTS), s.SETTLER_JOURNAL + ":*", _SENT], []),
    "stats": ([], _STATS),
}
CONSUME_ONLY: dict[str, list[str]] = {"executor": [_REQUESTS]}  # role -> streams it consumes but may not append to


def rules(role: str) -> list[str]:
    """The ACL rules of `role`'s user, its password aside (`ACL SETUSER name reset >password …`, or an ACL file's
    `user name #sha256 …`)."""
    if role not in GRANTS:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    read_write, read_only = GRANTS[role]
    keys = [f"~{p}" for p in read_write] + [f"%R~{p}" for p in read_only]
    backlog = [f"({' '.join([*(f'%R~{p}' for p in _SCALED), *_BACKLOG])})"] if role == "stats" else []
    # A command passes when one selector allows all its keys: a script's KEYS name the input stream beside the
    # outputs and markers, so the selector holds those too; what the script then runs is checked command by command.
    consume = [
        f"({' '.join(f'~{p}' for p in [stream, *read_write])} {_CONSUME})" for stream in CONSUME_ONLY.get(role, [])
    ]
    return ["on", "+@all", "-@dangerous", "resetchannels", *keys, *backlog, *consume]
