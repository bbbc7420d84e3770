"""gRPC TLS (ax0n.runtime.tls) with real self-signed certificates: the callers the services use (the settler's
blocking channel to validators, the traced aio channel of the router and validators) reach a TLS server only when
its certificate chains to their CA and names the host they dial."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from ax0n.runtime import telemetry, tls
from ax0n.sdk.client import AsyncAx0nClient
from ax0n.sdk.errors import Ax0nError


def self_signed(directory: Path, name: str, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for `host` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A gRPC health server on TLS (certificate for localhost); yields its target, its CA and a stranger CA."""
    cert, key = self_signed(tmp_path, "server", "localhost")
    stranger, _ = self_signed(tmp_path, "stranger", "localhost")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_secure_port("localhost:0", tls.server_credentials(str(cert), str(key)))
    server.start()
    yield f"localhost:{port}", cert, stranger
    server.stop(None)


def check(channel: grpc.Channel) -> str:
    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    except grpc.RpcError as err:
        return err.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def test_blocking_channel_verifies_the_server(tls_server) -> None:
    target, ca, stranger = tls_server
    with tls.sync_channel(target, str(ca)) as channel:
        assert check(channel) == "SERVING"
    with tls.sync_channel(target, str(stranger)) as channel:  # a certificate the caller's CA did not sign
        assert check(channel) == "UNAVAILABLE"
    with tls.sync_channel(target) as channel:  # plaintext to a TLS port
        assert check(channel) == "UNAVAILABLE"
    port = target.rsplit(":", 1)[1]
    with tls.sync_channel(f"127.0.0.1:{port}", str(ca)) as channel:  # a host the certificate does not name
        assert check(channel) == "UNAVAILABLE"


async def test_traced_channel_verifies_the_server(tls_server) -> None:
    target, ca, stranger = tls_server
    for ca_file, expected in ((ca, health_pb2.HealthCheckResponse.SERVING), (stranger, None)):
        async with telemetry.channel(target, str(ca_file)) as channel:
            call = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            if expected is None:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await call
                assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            else:
                assert (await call).status == expected


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path, "server", "localhost")
    with pytest.raises(ValueError, match="both"):
        tls.server_credentials(str(cert), "")
    assert tls.server_credentials("", "") is None


async def test_the_sdk_client_reaches_a_router_only_through_its_ca(tls_server) -> None:
    """The SDK over TLS: with the right CA the handshake succeeds and the call reaches the server (which serves no
    Router here: UNIMPLEMENTED); with a stranger CA or in plaintext it never gets there (UNAVAILABLE)."""
    target, ca, stranger = tls_server
    key = "0x" + "11" * 32
    for ca_file, code in ((str(ca), "UNIMPLEMENTED"), (str(stranger), "UNAVAILABLE"), ("", "UNAVAILABLE")):
        async with AsyncAx0nClient(target, private_key=key, tls_ca_file=ca_file) as client:
            with pytest.raises(Ax0nError) as err:
                await client.models()
            assert err.value.code == code, (ca_file, err.value)
