"""Creating, changing, enabling and deleting customers.

Which ids may be created, and by whom, is ``reporting.customers.ids``: a partner's live in its
own namespace, and an id the service already knows is not a partner's to create. Settings may
only tighten what the lists allow (``_check_settings``).

Deleting a customer keeps its row as a tombstone (no name, no email, no sites) so the id cannot
be taken again by someone else, who would then inherit its blocks; matches, evidence, reports
and blocks are kept (docs/customers.md says why), the destinations it owns are disabled (an
operator's stay as they are: ``reporting.customers.destinations``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from index.hashes import Algorithm
from index.matcher import DEFAULT_THRESHOLDS
from reporting import audit, models
from reporting.customers.destinations import disable_own_destinations, set_notify_mode
from reporting.customers.ids import KnownElsewhere, new_customer_id, refuse_known
from reporting.customers.rows import CustomerTable, bump, find_customer, touch, view_of
from reporting.customers.values import (
    DEGRADED_VERDICTS,
    NOTIFY_MODES,
    CustomerSettings,
    CustomerView,
    DeleteResult,
    check_host,
    check_name,
)
from scanner.errors import AlreadyExists, FailedPrecondition, InvalidRequest


class CustomerEditing(CustomerTable):
    # Ids known outside the database (the serving process's match journal), refused to
    # partners like the ones the database knows.
    known_elsewhere: KnownElsewhere | None

    def create(
        self,
        customer_id: str,
        partner: str | None,
        *,
        name: str = "",
        settings: CustomerSettings | None = None,
        sites: Iterable[str] = (),
        owner: str | None = None,
        actor: str = "system",
    ) -> CustomerView:
        """``owner``: the partner an operator creates the customer for; a partner's own
        customers always belong to it. An empty ``customer_id`` is assigned (``cus_…``, inside
        the owner's namespace). Ids: ``reporting.customers.ids``."""
        if partner is not None:
            if owner not in (None, partner):
                raise InvalidRequest(
                    "a partner token creates customers for its own partner only", "partner_id"
                )
            owner = partner
        customer_id = new_customer_id(customer_id, owner or None, by_partner=partner is not None)
        hosts = sorted({check_host(h) for h in sites})
        try:
            with self._sessions.begin() as session:
                if partner is not None:
                    refuse_known(session, customer_id, self.known_elsewhere)
                checked = _check_settings(session, settings or CustomerSettings())
                version = bump(session)
                now = models.utcnow()
                row = models.Customer(
                    customer_id=customer_id,
                    partner_id=owner or None,
                    name=check_name(name),
                    email_state="unverified",
                    enabled=False,
                    settings=checked.to_json(),
                    version=version,
                    created_by=actor,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                for host in hosts:
                    session.add(models.CustomerSite(customer_pk=row.id, host=host))
                session.flush()
                audit.record(
                    session,
                    actor,
                    "customer.create",
                    f"customer:{customer_id}",
                    {"partner_id": row.partner_id, "sites": hosts, "settings": checked.to_json()},
                )
                return view_of(session, row)
        except IntegrityError:
            raise AlreadyExists(
                f"customer_id {customer_id!r} or one of the sites {', '.join(hosts)} is taken"
            ) from None

    def update(
        self,
        customer_id: str,
        partner: str | None,
        *,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
        actor: str = "system",
    ) -> CustomerView:
        """Change the name and/or the settings named in ``settings`` (keys of ``CustomerSettings``)."""
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            before = CustomerSettings.from_json(row.settings)
            after = before
            if settings:
                unknown = sorted(set(settings) - set(CustomerSettings.__dataclass_fields__))
                if unknown:
                    raise InvalidRequest(f"unknown setting(s) {', '.join(unknown)}", "settings")
                after = _check_settings(session, replace(before, **dict(settings)))
            if name is not None:
                row.name = check_name(name)
            row.settings = after.to_json()
            if after.notify != before.notify:
                set_notify_mode(session, row.customer_id, after.notify)
            touch(session, row)
            audit.record(
                session,
                actor,
                "customer.update",
                f"customer:{customer_id}",
                {"name": name, "before": before.to_json(), "after": after.to_json()},
            )
            return view_of(session, row)

    def delete(self, customer_id: str, partner: str | None, actor: str = "system") -> DeleteResult:
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            session.execute(delete(models.CustomerSite).where(models.CustomerSite.customer_pk == row.id))
            session.execute(
                delete(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            disabled = disable_own_destinations(session, row.customer_id)
            row.name, row.email, row.verified_email, row.email_state = "", None, None, "unverified"
            row.enabled = False
            row.deleted_at = models.utcnow()
            touch(session, row)
            kept = DeleteResult(
                row.customer_id,
                _count(session, models.Match, models.Match.customer_id == row.customer_id),
                _count(session, models.Block, models.Block.customer_id == row.customer_id),
                int(
                    session.scalar(
                        select(func.count())
                        .select_from(models.Evidence)
                        .join(models.Match, models.Match.id == models.Evidence.match_id)
                        .where(models.Match.customer_id == row.customer_id)
                    )
                    or 0
                ),
                disabled,
            )
            audit.record(
                session,
                actor,
                "customer.delete",
                f"customer:{customer_id}",
                {
                    "matches_kept": kept.matches_kept,
                    "blocks_kept": kept.blocks_kept,
                    "evidence_kept": kept.evidence_kept,
                    "destinations_disabled": kept.destinations_disabled,
                },
            )
            return kept

    def set_enabled(
        self, customer_id: str, partner: str | None, enabled: bool, actor: str = "system"
    ) -> CustomerView:
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            if enabled and row.verified_email is None:
                raise FailedPrecondition(
                    f"customer {customer_id} has no verified email: set it and enter the code first"
                )
            if row.enabled != enabled:
                row.enabled = enabled
                touch(session, row)
                audit.record(
                    session,
                    actor,
                    "customer.enable" if enabled else "customer.disable",
                    f"customer:{customer_id}",
                )
            return view_of(session, row)


def _check_settings(session: Session, settings: CustomerSettings) -> CustomerSettings:
    if settings.notify not in NOTIFY_MODES:
        raise InvalidRequest(f"notify must be one of {', '.join(NOTIFY_MODES)}", "settings.notify")
    if settings.degraded_verdict not in ("", *DEGRADED_VERDICTS):
        raise InvalidRequest(
            "degraded_verdict must be block, allow or empty (the server's)", "settings.degraded_verdict"
        )
    lists = {
        row.name: row
        for row in session.scalars(select(models.HashList).where(models.HashList.enabled.is_(True)))
    }
    chosen = tuple(sorted(set(settings.lists)))
    missing = [name for name in chosen if name not in lists]
    if missing:
        raise InvalidRequest(f"no list named {', '.join(missing)}", "settings.lists")
    applying = [lists[name] for name in chosen] if chosen else list(lists.values())
    thresholds: dict[str, int] = {}
    for name, value in settings.thresholds.items():
        try:
            algorithm = Algorithm(name)
        except ValueError:
            raise InvalidRequest(f"unknown algorithm {name!r}", "settings.thresholds") from None
        if not 0 <= int(value) <= algorithm.bits:
            raise InvalidRequest(f"{algorithm} threshold must be 0..{algorithm.bits}", "settings.thresholds")
        ceiling = min(
            (int(row.thresholds.get(str(algorithm), DEFAULT_THRESHOLDS[algorithm])) for row in applying),
            default=DEFAULT_THRESHOLDS[algorithm],
        )
        if int(value) > ceiling:
            raise InvalidRequest(
                f"{algorithm} threshold {value} is looser than the lists' {ceiling}: "
                "a customer may only tighten thresholds",
                "settings.thresholds",
            )
        thresholds[str(algorithm)] = int(value)
    return CustomerSettings(chosen, thresholds, settings.degraded_verdict, settings.notify)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
