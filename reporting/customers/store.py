"""Customers and their sites: onboarding with a verified email, per-customer settings, and the
partner that owns each customer.

Every method takes ``partner``: the partner the caller is bound to, or None for an operator (who
sees every customer); a customer outside the caller's partner reads as absent
(``reporting.customers.rows``). Every change takes the next value of the customers' change
counter and stamps the customer's row with it, so a running server asks for ``version > v`` to
catch up (``policy_changes``), as it does for lists.

One class over one module per concern (``reading``, ``editing``, ``sites``, ``verification``),
not one object per concern: every operation goes through the same partner-scoped lookup, and
each caller (the gRPC Customers service, ``hashwatch customers``, the analytics' visibility, the
scan path's policy source) reaches several concerns of the same customers, so they hold one
store. Each part declares the settings it uses; this class sets them.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from reporting.customers.editing import CustomerEditing
from reporting.customers.email import VerificationMailer
from reporting.customers.ids import KnownElsewhere
from reporting.customers.mail_limits import MailLimits
from reporting.customers.reading import CustomerReading
from reporting.customers.sites import CustomerSites
from reporting.customers.verification import CODE_ATTEMPTS, CODE_TTL, RESEND_AFTER, EmailVerification
from reporting.db import session_factory


class CustomerStore(CustomerReading, CustomerEditing, CustomerSites, EmailVerification):
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
