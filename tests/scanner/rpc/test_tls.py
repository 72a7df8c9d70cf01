"""TLS and mTLS on the gRPC port, with a CA and certificates made at test time (no keys committed)."""

from __future__ import annotations

import datetime
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from typer.testing import CliRunner

from scanner.api.hashwatch.v1 import scanner_pb2 as pb
from scanner.api.hashwatch.v1 import scanner_pb2_grpc as pb_grpc
from scanner.cli.main import app as cli
from scanner.engine import MatcherHolder, ScanEngine
from scanner.pipeline import HashingConfig
from scanner.recording import InMemoryRecorder
from scanner.rpc.server import Server, create_server
from scanner.settings import SettingsError, load_settings
from tests.conftest import DEMO_UNLISTED

UNLISTED = DEMO_UNLISTED / "skimage_camera.png"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class CA:
    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        self.cert = (
            self._builder(subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(self.key, hashes.SHA256())
        )
        self.path = directory / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(getattr(self, "name", subject))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
        )

    def issue(self, name: str, server: bool) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        issued.key.chmod(0o600)
        return issued


@dataclass
class Pki:
    ca: CA
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from a CA the server does not trust


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CA(directory, "hashwatch-test-ca")
    other = CA(directory, "someone-else")
    return Pki(ca, ca.issue("server", True), ca.issue("edge", False), other.issue("stranger", False))


def _start(pki: Pki, mtls: bool) -> Server:
    settings = load_settings(
        port=0,
        threads=1,
        tls_cert=pki.server.cert,
        tls_key=pki.server.key,
        tls_client_ca=pki.ca.path if mtls else None,
    )
    recorder = InMemoryRecorder()
    server = create_server(settings, ScanEngine(HashingConfig(), MatcherHolder(), recorder), recorder)
    server.start()
    return server


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[Server]:
    server = _start(pki, mtls=False)
    yield server
    server.drain(grace_seconds=1)


@pytest.fixture
def mtls_server(pki: Pki) -> Iterator[Server]:
    server = _start(pki, mtls=True)
    yield server
    server.drain(grace_seconds=1)


def _hash(channel: grpc.Channel) -> pb.HashResponse:
    response: pb.HashResponse = pb_grpc.ScannerStub(channel).Hash(
        pb.HashRequest(request_id="t", content=UNLISTED.read_bytes()), timeout=10
    )
    return response


def _credentials(pki: Pki, client: Issued | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.path.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )


def test_tls_serves_clients_that_trust_the_ca_and_refuses_plain_text(pki: Pki, tls_server: Server) -> None:
    address = f"localhost:{tls_server.port}"
    with grpc.secure_channel(address, _credentials(pki, None)) as channel:
        assert _hash(channel).hashes
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as refused:
        _hash(channel)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_needs_a_client_certificate_from_the_configured_ca(pki: Pki, mtls_server: Server) -> None:
    address = f"localhost:{mtls_server.port}"
    with grpc.secure_channel(address, _credentials(pki, pki.client)) as channel:
        assert _hash(channel).hashes
    for client in (None, pki.stranger):
        with grpc.secure_channel(address, _credentials(pki, client)) as channel:
            with pytest.raises(grpc.RpcError) as refused:
                _hash(channel)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_scan_command_speaks_mtls(pki: Pki, mtls_server: Server) -> None:
    runner = CliRunner()
    common = ["scan", "--server", f"localhost:{mtls_server.port}", "--json", str(UNLISTED)]
    result = runner.invoke(
        cli,
        [
            *common,
            "--tls-ca",
            str(pki.ca.path),
            "--tls-cert",
            str(pki.client.cert),
            "--tls-key",
            str(pki.client.key),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "ALLOW"
    refused = runner.invoke(cli, [*common, "--tls-ca", str(pki.ca.path)])
    assert refused.exit_code == 1
    assert "UNAVAILABLE" in refused.stderr


def test_half_a_tls_configuration_is_refused_at_start_up(pki: Pki) -> None:
    recorder = InMemoryRecorder()
    engine = ScanEngine(HashingConfig(), MatcherHolder(), recorder)
    for given in (
        {"tls_cert": pki.server.cert},
        {"tls_client_ca": pki.ca.path},
        {"tls_cert": pki.server.cert, "tls_key": pki.server.key.with_name("missing.key")},
    ):
        with pytest.raises(SettingsError, match="HASHWATCH_TLS"):
            create_server(load_settings(port=0, threads=1, **given), engine, recorder)
