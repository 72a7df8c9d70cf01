"""Customers and their sites: onboarding with a verified email, per-customer settings, and the
partner that owns each customer.

Every method takes ``partner``: the partner the caller is bound to, or None for an operator (who
sees every customer). A customer outside the caller's partner is reported exactly like one that
does not exist (``CustomerNotFound``), so a partner learns nothing from guessing ids.

Which ids may be created, and by whom, is ``reporting.customers.ids``: a partner's live in its own
namespace, and an id the service already knows is not a partner's to create.

Deleting a customer keeps its row as a tombstone (no name, no email, no sites) so the id cannot
be taken again by someone else, who would then inherit its blocks; matches, evidence, reports
and blocks are kept (docs/customers.md says why), the destinations it owns are disabled (an
operator's stay as they are: ``reporting.customers.destinations``).

Every change takes the next value of the customers' change counter (``customers_head``) and
stamps the customer's row with it, so a running server asks for ``version > v`` to catch up
(``policy_changes``), as it does for lists.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from index.hashes import Algorithm
from index.matcher import DEFAULT_THRESHOLDS
from reporting import audit, models
from reporting.customers.codes import code_hash, new_code, normal_code, spaced
from reporting.customers.destinations import (
    disable_own_destinations,
    point_email_destination,
    set_notify_mode,
)
from reporting.customers.email import VerificationMailer
from reporting.customers.ids import KnownElsewhere, new_customer_id, refuse_known
from reporting.customers.mail_limits import MailLimits, release
from reporting.customers.values import (
    DEGRADED_VERDICTS,
    NOTIFY_MODES,
    CustomerSettings,
    CustomerView,
    DeleteResult,
    check_email,
    check_host,
    check_name,
    mask_email,
)
from reporting.db import session_factory
from scanner.customer_policy import CustomerPolicy, PolicyChanges
from scanner.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    Unavailable,
)
from scanner.paging import page_id

CODE_TTL = timedelta(hours=24)
CODE_ATTEMPTS = 5
# The least time between two codes sent for one customer.
RESEND_AFTER = timedelta(seconds=60)
MAX_PAGE = 500


class CustomerNotFound(NotFound):
    pass


class CustomerStore:
    def __init__(
        self,
        engine: Engine,
        mailer: VerificationMailer | None = None,
        code_ttl: timedelta = CODE_TTL,
        code_attempts: int = CODE_ATTEMPTS,
        resend_after: timedelta = RESEND_AFTER,
        known_elsewhere: KnownElsewhere | None = None,
        mail_limits: MailLimits | None = None,
    ) -> None:
        """``known_elsewhere``: ids known outside the database (the serving process's match
        journal), refused to partners like the ones the database knows."""
        self.engine = engine
        self.known_elsewhere = known_elsewhere
        self.mail_limits = mail_limits or MailLimits()
        self.mailer = mailer
        self.code_ttl = code_ttl
        self.code_attempts = code_attempts
        self.resend_after = resend_after
        self._sessions = session_factory(engine)

    # --- reading ---------------------------------------------------------------------------

    def get(self, customer_id: str, partner: str | None) -> CustomerView:
        with self._sessions() as session:
            return _view(session, self._find(session, customer_id, partner))

    def list_page(
        self, partner: str | None, page_size: int = 50, page_token: str = ""
    ) -> tuple[list[CustomerView], str]:
        """One page in creation order and the token of the next ("" after the last)."""
        if not 1 <= page_size <= MAX_PAGE:
            raise InvalidRequest(f"page_size must be between 1 and {MAX_PAGE}", "page_size")
        after = page_id(page_token) if page_token else 0
        with self._sessions() as session:
            query = (
                select(models.Customer)
                .where(models.Customer.id > after, models.Customer.deleted_at.is_(None))
                .order_by(models.Customer.id)
                .limit(page_size + 1)
            )
            if partner is not None:
                query = query.where(models.Customer.partner_id == partner)
            rows = list(session.scalars(query))
            more = len(rows) > page_size
            rows = rows[:page_size]
            sites = _sites(session, [row.id for row in rows])
            views = [_view(session, row, sites.get(row.id, ())) for row in rows]
        return views, str(rows[-1].id) if more else ""

    def visible_customer_ids(self, partner_id: str | None) -> list[str] | None:
        """The customer_ids a caller bound to ``partner_id`` may see; None (all) for an operator."""
        if partner_id is None:
            return None
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(models.Customer.customer_id)
                    .where(models.Customer.partner_id == partner_id, models.Customer.deleted_at.is_(None))
                    .order_by(models.Customer.id)
                )
            )

    # --- writing ---------------------------------------------------------------------------

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
                checked = self._check_settings(session, settings or CustomerSettings())
                version = _bump(session)
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
                return _view(session, row)
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
            row = self._find(session, customer_id, partner, lock=True)
            before = CustomerSettings.from_json(row.settings)
            after = before
            if settings:
                unknown = sorted(set(settings) - set(CustomerSettings.__dataclass_fields__))
                if unknown:
                    raise InvalidRequest(f"unknown setting(s) {', '.join(unknown)}", "settings")
                after = self._check_settings(session, replace(before, **dict(settings)))
            if name is not None:
                row.name = check_name(name)
            row.settings = after.to_json()
            if after.notify != before.notify:
                set_notify_mode(session, row.customer_id, after.notify)
            self._touch(session, row)
            audit.record(
                session,
                actor,
                "customer.update",
                f"customer:{customer_id}",
                {"name": name, "before": before.to_json(), "after": after.to_json()},
            )
            return _view(session, row)

    def delete(self, customer_id: str, partner: str | None, actor: str = "system") -> DeleteResult:
        with self._sessions.begin() as session:
            row = self._find(session, customer_id, partner, lock=True)
            session.execute(delete(models.CustomerSite).where(models.CustomerSite.customer_pk == row.id))
            session.execute(
                delete(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            disabled = disable_own_destinations(session, row.customer_id)
            row.name, row.email, row.verified_email, row.email_state = "", None, None, "unverified"
            row.enabled = False
            row.deleted_at = models.utcnow()
            self._touch(session, row)
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

    def add_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = "system"
    ) -> CustomerView:
        name = check_host(host)
        try:
            with self._sessions.begin() as session:
                row = self._find(session, customer_id, partner, lock=True)
                session.add(models.CustomerSite(customer_pk=row.id, host=name))
                session.flush()
                self._touch(session, row)
                audit.record(session, actor, "customer.site_add", f"customer:{customer_id}", {"host": name})
                return _view(session, row)
        except IntegrityError:
            raise AlreadyExists(f"the site {name} belongs to a customer already") from None

    def remove_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = "system"
    ) -> CustomerView:
        name = check_host(host)
        with self._sessions.begin() as session:
            row = self._find(session, customer_id, partner, lock=True)
            site = session.scalar(
                select(models.CustomerSite).where(
                    models.CustomerSite.customer_pk == row.id, models.CustomerSite.host == name
                )
            )
            if site is None:
                raise NotFound(f"customer {customer_id} has no site {name}")
            session.delete(site)
            self._touch(session, row)
            audit.record(session, actor, "customer.site_remove", f"customer:{customer_id}", {"host": name})
            return _view(session, row)

    def set_email(
        self, customer_id: str, partner: str | None, email: str, actor: str = "system"
    ) -> CustomerView:
        """Set the notification address (state pending) and send it a one-time code.

        Notices keep going to the previously verified address, if any, until this one is
        verified. If the code cannot be sent nothing changes (``Unavailable``: try again).
        Past the sending limits (``MailLimits``) nothing is sent (``Overloaded``)."""
        address = check_email(email)
        if self.mailer is None:
            raise FailedPrecondition("this server sends no email (no SMTP server configured)")
        code = new_code()
        expires = models.utcnow() + self.code_ttl
        # Counted, then sent outside any transaction (SMTP may take seconds), then stored: a
        # code that never left is never stored; one whose storing failed is simply useless.
        with self._sessions.begin() as session:
            reservation = self.mail_limits.reserve(session, partner, actor, address)
            row = self._find(session, customer_id, partner)
            owner = row.partner_id
            last = session.scalar(
                select(models.EmailVerification.created_at).where(
                    models.EmailVerification.customer_pk == row.id
                )
            )
            if last is not None and models.utcnow() - last < self.resend_after:
                raise FailedPrecondition(
                    f"a code was sent less than {int(self.resend_after.total_seconds())} s ago; "
                    "wait before asking again"
                )
        sent = self.mailer.send_code(address, owner, spaced(code), expires)
        if not sent.ok:
            with self._sessions.begin() as session:
                release(session, reservation)
            raise Unavailable(f"the verification email could not be sent: {sent.detail}")
        with self._sessions.begin() as session:
            row = self._find(session, customer_id, partner, lock=True)
            session.execute(
                delete(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            session.add(
                models.EmailVerification(
                    customer_pk=row.id,
                    email=address,
                    code_hash=code_hash(row.id, code),
                    attempts=0,
                    created_at=models.utcnow(),
                    expires_at=expires,
                )
            )
            row.email, row.email_state = address, "pending"
            self._touch(session, row)
            audit.record(
                session,
                actor,
                "customer.email_set",
                f"customer:{customer_id}",
                {"email": mask_email(address)},
            )
            return _view(session, row)

    def verify_email(
        self, customer_id: str, partner: str | None, code: str, actor: str = "system"
    ) -> CustomerView:
        """Check a code: right → verified (and notices go to the address); wrong → one attempt
        used; expired or out of attempts → ``FailedPrecondition`` until a new code is asked for."""
        wrong: WrongCode | None = None
        with self._sessions.begin() as session:
            row = self._find(session, customer_id, partner, lock=True)
            pending = session.scalar(
                select(models.EmailVerification).where(models.EmailVerification.customer_pk == row.id)
            )
            if pending is None:
                raise FailedPrecondition("no verification is pending: set the email first")
            if pending.expires_at <= models.utcnow():
                raise FailedPrecondition("the code has expired: set the email again for a new one")
            if pending.attempts >= self.code_attempts:
                raise FailedPrecondition("too many wrong codes: set the email again for a new one")
            if hmac.compare_digest(code_hash(row.id, normal_code(code)), pending.code_hash):
                session.delete(pending)
                row.email, row.verified_email, row.email_state = pending.email, pending.email, "verified"
                point_email_destination(session, row)
                self._touch(session, row)
                audit.record(
                    session,
                    actor,
                    "customer.email_verified",
                    f"customer:{customer_id}",
                    {"email": mask_email(pending.email)},
                )
                return _view(session, row)
            # The used attempt commits with this transaction; the caller hears of it after.
            pending.attempts += 1
            left = self.code_attempts - pending.attempts
            audit.record(
                session, actor, "customer.email_verify_failed", f"customer:{customer_id}", {"left": left}
            )
            wrong = WrongCode(f"wrong code; {left} attempt(s) left")
        raise wrong

    def set_enabled(
        self, customer_id: str, partner: str | None, enabled: bool, actor: str = "system"
    ) -> CustomerView:
        with self._sessions.begin() as session:
            row = self._find(session, customer_id, partner, lock=True)
            if enabled and row.verified_email is None:
                raise FailedPrecondition(
                    f"customer {customer_id} has no verified email: set it and enter the code first"
                )
            if row.enabled != enabled:
                row.enabled = enabled
                self._touch(session, row)
                audit.record(
                    session,
                    actor,
                    "customer.enable" if enabled else "customer.disable",
                    f"customer:{customer_id}",
                )
            return _view(session, row)

    # --- the scan path's view --------------------------------------------------------------

    def policy_version(self) -> int:
        with self._sessions() as session:
            return int(
                session.scalar(select(models.CustomersHead.version).where(models.CustomersHead.id == 1)) or 0
            )

    def policy_changes(self, since: int) -> PolicyChanges:
        with self._sessions() as session:
            head = int(
                session.scalar(select(models.CustomersHead.version).where(models.CustomersHead.id == 1)) or 0
            )
            rows = session.scalars(
                select(models.Customer).where(
                    models.Customer.version > since, models.Customer.version <= head
                )
            )
            upserts, removed = [], []
            for row in rows:
                if row.enabled and row.deleted_at is None:
                    upserts.append(policy_of(row))
                else:
                    removed.append(row.customer_id)
        return PolicyChanges(head, tuple(upserts), tuple(removed))

    # --- helpers ---------------------------------------------------------------------------

    def _find(
        self, session: Session, customer_id: str, partner: str | None, lock: bool = False
    ) -> models.Customer:
        query = select(models.Customer).where(
            models.Customer.customer_id == customer_id, models.Customer.deleted_at.is_(None)
        )
        if partner is not None:
            query = query.where(models.Customer.partner_id == partner)
        if lock:
            query = query.with_for_update()
        row = session.scalar(query)
        if row is None:
            # The same words whether it is missing or someone else's.
            raise CustomerNotFound(f"no customer {customer_id!r}")
        return row

    def _touch(self, session: Session, row: models.Customer) -> None:
        row.version = _bump(session)
        row.updated_at = models.utcnow()

    def _check_settings(self, session: Session, settings: CustomerSettings) -> CustomerSettings:
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
                raise InvalidRequest(
                    f"{algorithm} threshold must be 0..{algorithm.bits}", "settings.thresholds"
                )
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


class WrongCode(InvalidRequest):
    def __init__(self, message: str) -> None:
        super().__init__(message, "code")


def policy_of(row: models.Customer) -> CustomerPolicy:
    settings = CustomerSettings.from_json(row.settings)
    return CustomerPolicy(
        row.customer_id,
        frozenset(settings.lists) if settings.lists else None,
        {Algorithm(k): v for k, v in settings.thresholds.items()},
        settings.degraded_verdict or None,
    )


def _bump(session: Session) -> int:
    """The customers' next change number (locks the counter row until the transaction ends)."""
    session.execute(
        update(models.CustomersHead)
        .where(models.CustomersHead.id == 1)
        .values(version=models.CustomersHead.version + 1)
        .execution_options(synchronize_session=False)
    )
    version = session.scalar(select(models.CustomersHead.version).where(models.CustomersHead.id == 1))
    assert version is not None
    return int(version)


def _count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _sites(session: Session, pks: list[int]) -> dict[int, tuple[str, ...]]:
    found: dict[int, list[str]] = {}
    if pks:
        for pk, host in session.execute(
            select(models.CustomerSite.customer_pk, models.CustomerSite.host)
            .where(models.CustomerSite.customer_pk.in_(pks))
            .order_by(models.CustomerSite.host)
        ):
            found.setdefault(pk, []).append(host)
    return {pk: tuple(hosts) for pk, hosts in found.items()}


def _view(session: Session, row: models.Customer, sites: tuple[str, ...] | None = None) -> CustomerView:
    if sites is None:
        sites = _sites(session, [row.id]).get(row.id, ())
    return CustomerView(
        row.customer_id,
        row.partner_id,
        row.name,
        mask_email(row.email),
        row.email_state,
        row.enabled,
        CustomerSettings.from_json(row.settings),
        sites,
        row.created_at,
        row.updated_at,
    )


# The value types are re-exported: callers of the store name them from here.
__all__ = [
    "CODE_ATTEMPTS",
    "CODE_TTL",
    "CustomerNotFound",
    "CustomerSettings",
    "CustomerStore",
    "CustomerView",
    "DeleteResult",
    "WrongCode",
    "mask_email",
    "policy_of",
]
