"""TLS on ax0n's gRPC ports: a server's certificate and key, and the CA its callers verify it with.

Empty paths mean plaintext (the devnet and the tests on loopback); the Helm chart sets all three on every service.
"""

from __future__ import annotations

from pathlib import Path

import grpc


def server_credentials(cert_file: str, key_file: str) -> grpc.ServerCredentials | None:
    """The server's TLS credentials from its PEM certificate chain and key; None when neither is set."""
    if not cert_file and not key_file:
        return None
    if not (cert_file and key_file):
        raise ValueError("TLS needs both a certificate (tls_cert_file) and its key (tls_key_file)")
    return grpc.ssl_server_credentials([(Path(key_file).read_bytes(), Path(cert_file).read_bytes())])


def channel_credentials(ca_file: str) -> grpc.ChannelCredentials | None:
    """Credentials that accept only servers whose certificate chains to the PEM CA bundle `ca_file` (and names the
    target's host); None when `ca_file` is empty (plaintext)."""
    return grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes()) if ca_file else None


def sync_channel(target: str, ca_file: str = "") -> grpc.Channel:
    """A blocking channel to `target`: TLS verified against `ca_file`, plaintext without one."""
    credentials = channel_credentials(ca_file)
    return grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)
