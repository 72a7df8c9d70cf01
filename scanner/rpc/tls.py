"""TLS and mutual TLS for the gRPC port, from PEM files named in settings.

``HASHWATCH_TLS_CERT`` + ``HASHWATCH_TLS_KEY`` turn TLS on; ``HASHWATCH_TLS_CLIENT_CA`` also
requires every client to present a certificate signed by that CA (mTLS). The files are read
once at start-up and a missing or unreadable one stops the process with its setting's name.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from scanner.settings import Settings, SettingsError


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path}: {exc.strerror}") from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """None when TLS is off (plain text, for a loopback or a private network)."""
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.tls_client_ca is not None:
            raise SettingsError("HASHWATCH_TLS_CLIENT_CA needs HASHWATCH_TLS_CERT and HASHWATCH_TLS_KEY")
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise SettingsError("HASHWATCH_TLS_CERT and HASHWATCH_TLS_KEY must be set together")
    pair = (_read(settings.tls_key, "HASHWATCH_TLS_KEY"), _read(settings.tls_cert, "HASHWATCH_TLS_CERT"))
    if settings.tls_client_ca is None:
        return grpc.ssl_server_credentials([pair])
    client_ca = _read(settings.tls_client_ca, "HASHWATCH_TLS_CLIENT_CA")
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=True)


def channel_credentials(
    ca: Path | None = None, cert: Path | None = None, key: Path | None = None
) -> grpc.ChannelCredentials:
    """A client's credentials: ``ca`` to trust (default: the system's roots), and a client
    certificate + key for a server that requires mTLS."""
    if (cert is None) != (key is None):
        raise SettingsError("--tls-cert and --tls-key must be given together")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(ca, "--tls-ca") if ca is not None else None,
        private_key=_read(key, "--tls-key") if key is not None else None,
        certificate_chain=_read(cert, "--tls-cert") if cert is not None else None,
    )
