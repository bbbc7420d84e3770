#!/usr/bin/env python3
"""grpc.health.v1 check for container HEALTHCHECKs and the chart's `helm test`.

Usage: ax0n-healthcheck [HOST:PORT ...] — default 127.0.0.1:$AX0N_GRPC_PORT. Exits 0 only if every
address answers SERVING for the overall server status (service ""), 1 otherwise.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_S = float(os.environ.get("AX0N_HEALTHCHECK_TIMEOUT_S", "3"))


def check(address: str, timeout_s: float = TIMEOUT_S) -> str:
    """The serving status name at `address`, or the gRPC error code name."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.RpcError as err:
            return err.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: list[str]) -> int:
    addresses = argv or [f"127.0.0.1:{os.environ.get('AX0N_GRPC_PORT', '')}"]
    healthy = True
    for address in addresses:
        status = check(address)
        print(f"{address} {status}", flush=True)
        healthy &= status == "SERVING"
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
