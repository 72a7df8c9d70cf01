"""Which customer ids may be created, and by whom (docs/customers.md, "Customer ids").

Scans, matches, blocks, destinations, daily counts and the hash log carry a ``customer_id``
without needing a customer row, so whoever creates a customer inherits what the service already
holds under its id: its counts, its notices, the lists applied to its traffic. Hence:

- A partner's customers live in its own namespace, ``<partner_id>:<name>``. Partner ids hold no
  ':' (``scanner.auth.PARTNER_ID``), so the part before the first ':' names one partner only. A
  partner names the whole id, or leaves it empty and gets ``<partner_id>:cus_<16 hex digits>``.
  Nothing is rewritten: the id a partner sends is the id its edge traffic must carry.
- An id with a ':' is in the namespace of the partner before it, whoever creates it: an operator
  creates one only for that partner, and an operator's own customers have ids without one.
- An id the service already knows is refused to a partner even inside its namespace: what was
  recorded under it is not the partner's to read or steer until an operator says so. An operator
  may create a known id (for itself or for a partner): handing a history over is its call.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from reporting import models
from reporting.customers.values import check_customer_id
from scanner.auth import PARTNER_ID
from scanner.errors import AlreadyExists, FailedPrecondition, InvalidRequest

SEPARATOR = ":"
# Everything that carries a customer_id without a customer row behind it. (Rescans' seen rows
# and review requests hang off a match, which carries it already.)
_TRACES = (
    models.Match.customer_id,
    models.Block.customer_id,
    models.Event.customer_id,
    models.Destination.customer_id,
    models.DailyCount.customer_id,
    models.ScanHashLog.customer_id,
)
# Ids known outside the database, e.g. in the match journal of the server answering.
KnownElsewhere = Callable[[str], bool]


def new_customer_id(customer_id: str, owner: str | None, by_partner: bool) -> str:
    """The id to create: ``customer_id`` checked against its namespace, or one assigned there.

    ``owner`` is the partner the customer will belong to; ``by_partner``: the caller is that
    partner's token (not an operator creating on its behalf)."""
    if owner is not None and not PARTNER_ID.fullmatch(owner):
        if by_partner:
            raise FailedPrecondition(
                "this token's partner id cannot prefix customer ids (it predates the rule: "
                "letters, digits and . _ -, no ':'); an operator must create these customers"
            )
        raise InvalidRequest(
            "partner_id: 1-64 letters, digits and . _ - (starting with a letter or digit)", "partner_id"
        )
    if not customer_id:
        assigned = f"cus_{secrets.token_hex(8)}"
        return f"{owner}{SEPARATOR}{assigned}" if owner else assigned
    check_customer_id(customer_id)
    namespace, separator, name = customer_id.partition(SEPARATOR)
    if by_partner and (not separator or namespace != owner or not name):
        # Decided from the id alone, before anything is looked up: says nothing about it.
        raise InvalidRequest(
            f"a partner's customer ids are {owner}{SEPARATOR}<name>; leave customer_id empty to "
            "have one assigned",
            "customer_id",
        )
    if separator and not name:
        raise InvalidRequest(f"customer_id {customer_id!r} needs a name after the ':'", "customer_id")
    if separator and namespace != owner:
        raise InvalidRequest(
            f"customer_id {customer_id!r} is in the namespace of partner {namespace!r}: create it "
            f"with partner_id {namespace!r}, or choose an id without ':'",
            "customer_id",
        )
    return customer_id


def refuse_known(session: Session, customer_id: str, known_elsewhere: KnownElsewhere | None) -> None:
    """``AlreadyExists`` when anything the service holds already carries ``customer_id``."""
    if any(session.scalar(select(exists().where(column == customer_id))) for column in _TRACES) or (
        known_elsewhere is not None and known_elsewhere(customer_id)
    ):
        raise AlreadyExists(
            f"customer_id {customer_id!r} is already known to this service (scans or records "
            "carry it): only an operator can create it"
        )
