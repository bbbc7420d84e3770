#!/usr/bin/env python3
"""grpc.health.v1 check for container HEALTHCHECKs and the chart's `helm test`.

Usage: ax0n-healthcheck [HOST:PORT ...] — default the container's own plaintext health port, 127.0.0.1:$AX0N_HEALTH_PORT
(127.0.0.1:$AX0N_GRPC_PORT without one). Addresses given are checked over TLS when $AX0N_TLS_CA_FILE names the CA
their certificates chain to (the host part must be a name the certificate holds). Exits 0 only if every address
answers SERVING for the overall server status (service ""), 1 otherwise.
"""

from __future__ import annotations

import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

TIMEOUT_S = float(os.environ.get("AX0N_HEALTHCHECK_TIMEOUT_S", "3"))


def check(address: str, timeout_s: float = TIMEOUT_S, ca_file: str = "") -> str:
    """The serving status name at `address` (over TLS verified against `ca_file` when given), or the gRPC error
    code name."""
    if ca_file:
        with open(ca_file, "rb") as f:
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=f.read()))
    else:
        channel = grpc.insecure_channel(address)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.RpcError as err:
            return err.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def main(argv: list[str]) -> int:
    health_port = os.environ.get("AX0N_HEALTH_PORT", "-1")
    own = health_port if health_port != "-1" else os.environ.get("AX0N_GRPC_PORT", "")
    ca_file = os.environ.get("AX0N_TLS_CA_FILE", "") if argv else ""
    healthy = True
    for address in argv or [f"127.0.0.1:{own}"]:
        status = check(address, ca_file=ca_file)
        print(f"{address} {status}", flush=True)
        healthy &= status == "SERVING"
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
