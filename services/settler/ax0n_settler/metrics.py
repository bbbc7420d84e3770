"""The settler's Prometheus metrics (served on the service's /metrics port)."""

from prometheus_client import Counter, Histogram

BATCH_EVENTS = Counter(
    "ax0n_settler_batch_events_total",
    "Batch transitions and recoveries: built, proved, signed, recertify, sent, bumped, rebroadcast, mined, "
    "adopted, confirmed, reorged, resent, rebuilt",
    ["event"],
)
RECEIPTS = Counter("ax0n_settler_receipts_total", "Receipts taken into batches or rejected", ["outcome"])
PROVE_SECONDS = Histogram("ax0n_settler_prove_seconds", "Time to prove one batch", buckets=(1, 2, 5, 10, 20, 60, 120))
CHALLENGES = Counter(
    "ax0n_settler_challenges_total",
    "Fault records handled by the challenge watcher: slashed, already_challenged, window_closed, not_disputed, "
    "no_operator, no_committee (quorum faults without validator_targets), refused (dead-lettered), retry",
    ["outcome"],
)
