"""Least-privilege Redis users, one per role (Redis 7 ACL): the keys each service may read and write.

Every service connects as its own user, so a party that holds one role's password can touch only that role's
keys: an executor cannot append to `ax0n:final`, delete the router's nonces and reservations, or write the
settler's journal (NOPERM). What a role may write it may still write wrongly: consumers verify what they read.

A global stream brings its shards (`{stream}:{tag}`, ax0n.mempool.streams); a consumed stream brings its
dead-letter stream and the consumer's idempotency markers and error counters (`ax0n:done:…`, `ax0n:err:…`, named
from `slot_name(stream)`) with it. Commands: everything but the dangerous ones
(`-@dangerous`: FLUSHALL, KEYS, CONFIG, DEBUG, …), and no pub/sub channels.
"""

from __future__ import annotations

from ax0n.mempool import streams as s

ROLES = ("router", "executor", "prover", "validator", "settler", "stats")


def _stored(stream: str) -> list[str]:
    """`stream` (a name or a `prefix*` pattern of tagged names) and, for a name, its shards."""
    return [stream] if stream.endswith("*") else [stream, f"{stream}:{{*"]


def _consumed(stream: str) -> list[str]:
    """The keys a consumer of `stream` reads and writes besides outputs (a shard's dead letters are its own
    `{shard}:dead`, within `{stream}:{*`)."""
    if stream.endswith("*"):  # tagged names: what is named after them starts with them
        return [stream, f"ax0n:done:{stream}", f"ax0n:err:{stream}"]
    return [
        *_stored(stream),
        s.dead_letter_stream(stream),
        *(f"ax0n:{kind}:{name}" for kind in ("done", "err") for name in (f"{{{stream}}}:*", f"{stream}:{{*")),
    ]


_STATS = [s.HEARTBEAT, s.LATENCY]  # signed heartbeats and certified latency samples: every snapshot builder reads
_REQUESTS = s.REQUESTS_PREFIX + "*"
_TOKENS = s.TOKENS_PREFIX + "*"
_SENT = "ax0n:sent:*"  # cross-slot send markers (Redis Cluster)

# role -> (read-write patterns, read-only patterns)
GRANTS: dict[str, tuple[list[str], list[str]]] = {
    "router": ([_REQUESTS, s.ROUTER_KEYS + "*", _TOKENS, *_consumed(s.FINAL)], _STATS),
    "executor": ([*_consumed(_REQUESTS), *_stored(s.EXECUTED), _TOKENS, s.HEARTBEAT, _SENT], []),
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


def rules(role: str) -> list[str]:
    """The ACL rules of `role`'s user, its password aside (`ACL SETUSER name reset >password …`, or an ACL file's
    `user name #sha256 …`)."""
    if role not in GRANTS:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    read_write, read_only = GRANTS[role]
    keys = [f"~{p}" for p in read_write] + [f"%R~{p}" for p in read_only]
    return ["on", "+@all", "-@dangerous", "resetchannels", *keys]
