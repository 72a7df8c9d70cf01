"""The SSRF guard, now ``scanner.netguard`` (the rescan workers use it too); kept so that
imports of this module keep working."""

from scanner.netguard import (
    AddressNotAllowed,
    GuardedTransport,
    check_url,
    default_ssl_context,
    guarded_client,
    is_public,
    resolve_checked,
)

__all__ = [
    "AddressNotAllowed",
    "GuardedTransport",
    "check_url",
    "default_ssl_context",
    "guarded_client",
    "is_public",
    "resolve_checked",
]
