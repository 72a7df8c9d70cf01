"""Network addresses in the forms the servers need: a host and port to bind, a gRPC peer to read.

gRPC writes a peer as ``ipv4:203.0.113.5:40000`` or, for IPv6, with the brackets
percent-encoded: ``ipv6:%5B2001:db8::1%5D:40000``. Reading the latter as it stands finds no
address at all, so a token limited to an IPv6 network could never be used.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import unquote


def host_port(host: str, port: int) -> str:
    """``host:port`` as a gRPC address; an IPv6 literal goes in brackets (``[::]:50051``)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def bare_host(host: str) -> str:
    """``host`` without the brackets an IPv6 literal may be written with (``[::1]`` → ``::1``),
    the form socket libraries (uvicorn, the metrics server) take."""
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def peer_address(peer: str) -> str:
    """The IP address in a gRPC peer string, canonical ("" for a Unix socket or anything else).

    An IPv4 client reaching a dual-stack (``::``) listener shows up as ``::ffff:a.b.c.d``; it is
    given as the IPv4 address it is, so one client has one address whichever way it came."""
    kind, _, rest = peer.partition(":")
    rest = unquote(rest)
    if kind == "ipv4":
        host = rest.rpartition(":")[0]
    elif kind == "ipv6" and rest.startswith("["):
        host = rest[1:].partition("]")[0]
    else:
        return ""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])  # without a zone (fe80::1%eth0)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
