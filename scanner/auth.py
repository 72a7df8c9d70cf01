"""Who is calling, and what they may do: scopes, the principal a token stands for, and the
``TokenVerifier`` the server checks tokens with.

The scanner never imports the database layer; ``reporting.access.tokens.TokenStore`` implements
``TokenVerifier`` and the composition root (``scanner.app``) hands it to the server, as it does
the ``MatchRecorder``. ``StaticTokens`` is a working double for tests and embedders.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# Re-exported: the exceptions live in the one tree of scanner.errors.
from scanner.errors import PermissionDenied as PermissionDenied
from scanner.errors import Unauthenticated as Unauthenticated

SCAN = "scan"
LISTS_READ = "lists:read"
LISTS_WRITE = "lists:write"
REVIEW_READ = "review:read"
REVIEW_WRITE = "review:write"
AUDIT_READ = "audit:read"
CUSTOMERS_READ = "customers:read"
CUSTOMERS_WRITE = "customers:write"
ANALYTICS_READ = "analytics:read"
# Bound to one partner (the token's partner_id): manages that partner's customers, nothing else.
PARTNER = "partner"
# Bound to one customer (the token's customer_id): asks for review of that customer's cases, and
# nothing else. The customer's own scopes are named ``customer:<what>``; none implies another.
CUSTOMER_APPEAL = "customer:appeal"
CUSTOMER_SCOPES = frozenset({CUSTOMER_APPEAL})
ADMIN = "admin"
SCOPES = frozenset(
    {
        SCAN,
        LISTS_READ,
        LISTS_WRITE,
        REVIEW_READ,
        REVIEW_WRITE,
        AUDIT_READ,
        CUSTOMERS_READ,
        CUSTOMERS_WRITE,
        ANALYTICS_READ,
        PARTNER,
        *CUSTOMER_SCOPES,
        ADMIN,
    }
)
# "write" means full create/read/update/delete, as in Cloudflare's "Edit"; admin means everything.
_IMPLIES: Mapping[str, frozenset[str]] = {
    LISTS_WRITE: frozenset({LISTS_READ}),
    REVIEW_WRITE: frozenset({REVIEW_READ}),
    CUSTOMERS_WRITE: frozenset({CUSTOMERS_READ}),
    # Not the bound scopes: admin sees every customer, a partner or customer token only its own.
    ADMIN: SCOPES - {PARTNER} - CUSTOMER_SCOPES,
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    given = frozenset(scopes)
    unknown = sorted(given - SCOPES)
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(sorted(SCOPES))}")
    if not given:
        raise ValueError("at least one scope is needed")
    return given


# A partner id is the namespace of its customers' ids (``<partner_id>:<name>``,
# reporting/customers/ids.py): no ':' in it, so no partner's namespace holds another's.
PARTNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_partner(scopes: Iterable[str], partner_id: str | None) -> str | None:
    """A partner token carries the partner scope and nothing else, and names its partner;
    any other token names none. So a partner token can never reach another service's data."""
    partner_id = _binding(frozenset(scopes), frozenset({PARTNER}), partner_id, "partner", "--partner")
    if partner_id is not None and not PARTNER_ID.fullmatch(partner_id):
        raise ValueError(
            "the partner id: 1-64 letters, digits and . _ - (starting with a letter or digit); "
            "it prefixes the partner's customer ids, so it cannot hold ':'"
        )
    return partner_id


def check_customer(scopes: Iterable[str], customer_id: str | None) -> str | None:
    """A customer token carries ``customer:…`` scopes only and names its customer; any other
    token names none. So a customer's token reaches that customer's own cases and nothing else."""
    return _binding(frozenset(scopes), CUSTOMER_SCOPES, customer_id, "customer", "--customer")


def _binding(
    given: frozenset[str], bound: frozenset[str], owner: str | None, what: str, flag: str
) -> str | None:
    owner = (owner or "").strip() or None
    names = " or ".join(sorted(bound))
    if given & bound and owner is None:
        raise ValueError(f"the {names} scope needs the {what} it is bound to ({flag} ID)")
    if owner is not None and not given <= bound:
        raise ValueError(f"a token bound to a {what} carries the {names} scope only")
    if owner is not None and (len(owner) > 200 or not owner.isprintable()):
        raise ValueError(f"the {what} id: at most 200 printable characters")
    return owner


def effective_scopes(scopes: Iterable[str]) -> frozenset[str]:
    granted = set(scopes)
    for scope in list(granted):
        granted |= _IMPLIES.get(scope, frozenset())
    return frozenset(granted)


def parse_networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)
    except ValueError as exc:
        raise ValueError(f"not an IP address or CIDR: {exc}") from None


@dataclass(frozen=True)
class Principal:
    """The caller, once its credential is verified."""

    # "token:<public id>" or "analyst:<username>": what the audit log records as the actor.
    actor: str
    name: str
    scopes: frozenset[str]
    networks: tuple[Network, ...] = ()
    partner_id: str | None = None
    # The customer a customer:… token is bound to; such a principal acts for that customer only.
    customer_id: str | None = None
    granted: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "granted", effective_scopes(self.scopes))

    def allows(self, required: Iterable[str]) -> bool:
        """True when the principal holds at least one of ``required``."""
        return bool(self.granted & set(required))

    def allows_address(self, address: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == n.version and ip in n for n in self.networks)


class TokenVerifier(Protocol):
    def authenticate(self, secret: str) -> Principal:
        """The principal a bearer token stands for; raise ``Unauthenticated`` when it is not valid.

        Called on every RPC: must not touch the database for a token it has seen recently."""
        ...


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    """The verified caller of the RPC being handled (set by the auth interceptor), if any."""
    return _current.get()


def set_current_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_current_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)


class StaticTokens:
    """A fixed set of secrets → principals; for tests and embedders without a database."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self._tokens = {hashlib.sha256(s.encode()).digest(): p for s, p in tokens.items()}

    def authenticate(self, secret: str) -> Principal:
        digest = hashlib.sha256(secret.encode()).digest()
        for known, principal in self._tokens.items():
            if hmac.compare_digest(known, digest):
                return principal
        raise Unauthenticated("unknown token")
