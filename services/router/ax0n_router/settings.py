"""Router settings (AX0N_* environment variables or flags; `ax0n-router --help`)."""

from __future__ import annotations

from pydantic import Field

from ax0n.chain.deploy import deployment_of
from ax0n.runtime.config import DEFAULT_ROUTER_HTTP_PORT, ServiceSettings
from ax0n_router.admission import Limits

_L = Limits()


class RouterSettings(ServiceSettings):
    http_port: int = Field(DEFAULT_ROUTER_HTTP_PORT, description="OpenAI-compatible HTTP API port (-1 disables it)")
    registry_file: str = Field(
        "",
        description="registry state JSON (models, escrow, routing snapshot) instead of the chain; with --rpc-url and "
        "--deployment it gives only the routing snapshot",
    )
    rpc_url: str = Field(
        "",
        description="Ethereum JSON-RPC URL: with --deployment, models and escrow are read on-chain and routing "
        "snapshots rebuilt from NodeRegistry and node stats every routing_rebuild_interval blocks",
    )
    deployment: str = Field("", description="deployment manifest JSON written by ax0n.chain.deploy")
    api_keys_file: str = Field(
        "", description='JSON {"sha256(api key) hex": "escrow account private key hex"} for unsigned HTTP clients'
    )
    chain_id: int = Field(31337, description="chain id requests must be signed for")
    settlement_address: str = Field(
        "",
        description="Settlement address requests must be signed for (default: the --deployment manifest's, else the "
        "devnet's)",
    )
    settler_target: str = Field(
        "", description="Settler gRPC address: GetResult then carries the settlement once the request is batched"
    )
    max_backlog: int = Field(_L.max_backlog, description="per-cluster stream backlog past which requests get 429")
    max_tokens: int = Field(_L.max_tokens, description="largest max_tokens a request may ask for")
    max_prompt_bytes: int = Field(_L.max_prompt_bytes, description="largest prompt (UTF-8 bytes)")
    max_deadline_horizon_s: int = Field(_L.max_deadline_horizon_s, description="how far ahead a deadline may be")
    default_deadline_s: int = Field(300, description="API-key requests: deadline from now")
    default_max_latency_ms: int = Field(60_000, description="API-key requests: max latency")
    default_max_tokens: int = Field(256, description="API-key requests without max_tokens")
    max_body_bytes: int = Field(1 << 20, description="largest HTTP request body; larger ones get 413 unread")

    def limits(self) -> Limits:
        return Limits(
            max_prompt_bytes=self.max_prompt_bytes,
            max_tokens=self.max_tokens,
            max_deadline_horizon_s=self.max_deadline_horizon_s,
            max_backlog=self.max_backlog,
            deployment=deployment_of(self.chain_id, self.settlement_address, self.deployment),
        )
