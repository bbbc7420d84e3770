"""Stream and consumer-group names: the wiring between services (and the Helm chart's KEDA triggers).

Redis Cluster: each name decides its hash slot. Per-cluster and per-request streams carry their id as a hash tag
(`ax0n:req:{cluster}`, `ax0n:tok:{request id}`); the global streams (`SHARDED`) are split into `shards` streams
`{name}:{tag}` keyed by the entry key, shard i of every global stream sharing one tag (docs/mempool.md). Keys a
consumer keeps beside its stream (markers, errors, dead letters) are named from `slot_name(stream)`, so they share
its slot, tagged or not.
"""

from zlib import crc32

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

REQUESTS_PREFIX = "ax0n:req:"  # one stream per executor cluster: ax0n:req:{cluster}
EXECUTED = "ax0n:exec"  # executor -> prover
PROVED = "ax0n:proved"  # prover -> validators
FINAL = "ax0n:final"  # aggregator -> settler, router
FAULTS = "ax0n:fault"  # prover (wrong zk outputs, with a counter-proof), aggregators (quorum INVALID) -> settler
HEARTBEAT = "ax0n:heartbeat"  # executors -> stats readers (ax0n/stats.py): signed liveness signals
LATENCY = "ax0n:latency"  # aggregators -> stats readers: latency samples of receipts certified VALID
ATTESTATIONS = "ax0n:att"  # validators -> aggregators (and LLM-tier members waiting on their sub-committee)
TOKENS_PREFIX = "ax0n:tok:"  # executor -> router, per request: ax0n:tok:{request_id hex}
TOKENS_TTL_S = 3_600  # a token stream expires this long after its first chunk (abandoned requests included)
ROUTER_KEYS = "ax0n:router:"  # the router's nonces and escrow reservations: ax0n:router:{kind}:{client}...
SETTLER_JOURNAL = "ax0n:settler:{journal}"  # the settler journal's key prefix: its keys share one slot
DEAD_LETTER_SUFFIX = ":dead"  # dead_letter_stream(stream) holds entries that could not be handled, with the reason

# streams every party appends to, split into `shards` streams on a mesh that outgrows one Redis
SHARDED = frozenset({EXECUTED, PROVED, ATTESTATIONS, FINAL, FAULTS})

EXECUTOR_GROUP = "executors"
PROVER_GROUP = "provers"
VALIDATOR_GROUP = "validators"
SETTLER_GROUP = "settlers"
ROUTER_GROUP = "routers"


def requests_stream(cluster_id: str, prefix: str = REQUESTS_PREFIX) -> str:
    return f"{prefix}{{{cluster_id}}}"


def tokens_stream(request_id: bytes) -> str:
    return f"{TOKENS_PREFIX}{{{request_id.hex()}}}"


def hash_tag(key: str) -> str | None:
    """What Redis Cluster hashes `key` on when not the whole key: the text between its first `{` and the next `}`,
    if not empty."""
    start = key.find("{")
    end = key.find("}", start + 1) if start >= 0 else -1
    return key[start + 1 : end] if end > start + 1 else None


def slot_name(stream: str) -> str:
    """A prefix in `stream`'s hash slot for the keys named after it: the name itself if tagged, else `{name}`."""
    return stream if hash_tag(stream) is not None else f"{{{stream}}}"


def dead_letter_stream(stream: str) -> str:
    return f"{slot_name(stream)}{DEAD_LETTER_SUFFIX}"


def shard_tag(index: int, shards: int) -> str:
    """Shard `index`'s hash tag: the first `{index}.{j}` whose slot lies in the index-th of `shards` equal slot
    ranges, so the shards spread evenly over masters that split the slots evenly (as `redis-cli --cluster
    create` does)."""
    if not 0 <= index < shards:
        raise ValueError(f"shard {index} of {shards}")
    low, high = index * REDIS_CLUSTER_HASH_SLOTS // shards, (index + 1) * REDIS_CLUSTER_HASH_SLOTS // shards
    j = 0
    while not low <= key_slot(f"{index}.{j}".encode()) < high:
        j += 1
    return f"{index}.{j}"


def shard_streams(stream: str, shards: int) -> list[str]:
    """The streams `stream` is split into: itself with one shard, else `{stream}:{tag}` per shard."""
    if shards == 1:
        return [stream]
    return [f"{stream}:{{{shard_tag(i, shards)}}}" for i in range(shards)]


def shard_index(key: str, shards: int) -> int:
    """The shard an entry with idempotency `key` goes to: the same for every copy, so duplicates meet one
    consumer's markers."""
    return crc32(key.encode()) % shards


def expiry_s(stream: str) -> int:
    """Seconds a stream lives after its first entry (set once, never extended), or 0: kept until trimmed."""
    return TOKENS_TTL_S if stream.startswith(TOKENS_PREFIX) else 0
