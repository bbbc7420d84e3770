"""The Ray-free half of the Serve path (ax0n_executor.serving): what a replica is given and what it streams back."""

from __future__ import annotations

from dataclasses import dataclass

from ax0n.spec.params import MAINNET, Params


@dataclass(frozen=True, slots=True)
class Text:
    """A text delta of one request and the token ids that produced it."""

    delta: str
    token_ids: list[int]


@dataclass(frozen=True, slots=True)
class Done:
    """A request's end: its signed receipt and output, or the refusal (`code` is a grpc.StatusCode name)."""

    receipt: bytes = b""
    output: str = ""
    code: str = ""
    message: str = ""


Event = Text | Done


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One model a deployment serves: where its weights are, the commitment they must have, how it is billed."""

    model_id: str
    directory: str
    commitment: bytes
    dtype: str = "float32"
    price: int = 0  # wei per 1k tokens (the registered price)
    params: Params = MAINNET


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """How a model's deployment is placed, batched and scaled (`ax0n-executor --serve-*`)."""

    num_gpus: float = 0.0  # per replica; 0 runs on CPU with one thread
    num_cpus: float = 1.0  # per replica on CPU
    min_replicas: int = 1
    max_replicas: int = 1
    target_ongoing_requests: float = 2.0  # autoscaling target per replica
    max_batch_size: int = 4
    batch_wait_ms: float = 10.0
    compile: bool = False  # torch.compile the decoder
