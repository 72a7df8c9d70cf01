"""Refuse to send HTTP requests that someone else chose the target of into our own network (SSRF):
customers' webhooks and PagerDuty URLs, partner webhooks, and the URLs a rescan manifest names.

The host is resolved once, every address it resolves to is checked, and the connection is made to
a checked address, so a DNS answer that changes between the check and the connect (rebinding)
cannot slip through. TLS still verifies the certificate against the host name: only the TCP
connect is pinned. Proxies from the environment are ignored, because a proxy would make the
connect go somewhere we did not check.

A ``Deadline`` shared with the transport bounds a whole exchange: every connect, read and write
waits at most until it, so a server that answers one byte at a time (headers included) cannot
hold a caller past it however short each wait is.

It imports nothing of the database, so that the rescan workers (which have none) use the same
guard as the outbox worker. Callers use it through ``reporting.http.client``.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressNotAllowed(ValueError):
    """The destination resolves to an address we will not send to."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# How a refused destination is told it may be allowed; the rescan says its own flag.
DESTINATION_HINT = "add the destination with --allow-private to permit this"


def is_public(address: IPAddress) -> bool:
    """Globally routable unicast, after unwrapping IPv4 carried inside IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if not address.is_global:
        return False
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or getattr(address, "is_site_local", False)
    )


def check_url(url: str) -> None:
    """Refuse what is wrong with a URL whatever it resolves to (scheme, host, credentials)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise AddressNotAllowed(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise AddressNotAllowed("the URL has no host")
    if parts.username or parts.password:
        raise AddressNotAllowed("credentials in the URL are not allowed; use the destination secret")


def resolve_checked(host: str, port: int, allow_private: bool, hint: str = DESTINATION_HINT) -> list[str]:
    """Every address ``host`` resolves to, all of them allowed, or ``AddressNotAllowed``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not allow_private:
        for address in addresses:
            parsed = ipaddress.ip_address(address.split("%", 1)[0])
            if not is_public(parsed):
                raise AddressNotAllowed(
                    f"{host} resolves to {address}, a private, loopback or reserved address ({hint})"
                )
    return addresses


class Deadline:
    """When the exchange under way must be over (``time.monotonic()``), or None for no limit;
    set by the caller before each request, read by the connections it makes."""

    def __init__(self) -> None:
        self.at: float | None = None
        self._cut = False

    def start(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds
        self._cut = False

    @property
    def passed(self) -> bool:
        """Whether a timeout just raised was this deadline's (not one wait's own timeout)."""
        return self.at is not None and (self._cut or time.monotonic() >= self.at)

    def wait(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """The longest the next socket operation may wait: ``timeout``, cut to what is left."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            self._cut = True
            raise expired("the exchange ran out of time")
        self._cut = timeout is None or left < timeout
        return left if self._cut else timeout


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.wait(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.wait(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        wait = self._deadline.wait(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, wait), self._deadline)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, allow_private: bool, hint: str, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_private = allow_private
        self._hint = hint
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in resolve_checked(host, port, self._allow_private, self._hint):
            wait = self._deadline.wait(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, wait, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise AddressNotAllowed("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """Certificate verification against certifi's roots, built once (loading them is slow)."""
    return httpx.create_ssl_context(trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` whose connections go only to checked addresses, each operation
    held to ``deadline`` when one is set."""

    def __init__(
        self,
        allow_private: bool,
        ssl_context: ssl.SSLContext | None = None,
        hint: str = DESTINATION_HINT,
        deadline: Deadline | None = None,
    ) -> None:
        context = ssl_context or default_ssl_context()
        super().__init__(verify=context, trust_env=False)
        self._pool.close()
        # httpx exposes no hook for the network backend, so the pool is rebuilt with ours; the
        # SSRF tests fail loudly if a future httpx stops using ``_pool``.
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            network_backend=_GuardedBackend(allow_private, hint, deadline or Deadline()),
            max_connections=4,
        )
