"""Stream and consumer-group names: the wiring between services (and the Helm chart's KEDA triggers)."""

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
ROUTER_KEYS = "ax0n:router:"  # the router's nonces and escrow reservations
SETTLER_JOURNAL = "ax0n:settler"  # the settler journal's key prefix
DEAD_LETTER_SUFFIX = ":dead"  # {stream}:dead holds entries that could not be handled, with the reason

EXECUTOR_GROUP = "executors"
PROVER_GROUP = "provers"
VALIDATOR_GROUP = "validators"
SETTLER_GROUP = "settlers"
ROUTER_GROUP = "routers"


def requests_stream(cluster_id: str) -> str:
    return f"{REQUESTS_PREFIX}{cluster_id}"


def tokens_stream(request_id: bytes) -> str:
    return f"{TOKENS_PREFIX}{request_id.hex()}"


def dead_letter_stream(stream: str) -> str:
    return f"{stream}{DEAD_LETTER_SUFFIX}"


def expiry_s(stream: str) -> int:
    """Seconds a stream lives after its first entry (set once, never extended), or 0: kept until trimmed."""
    return TOKENS_TTL_S if stream.startswith(TOKENS_PREFIX) else 0
