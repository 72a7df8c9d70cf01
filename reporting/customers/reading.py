"""Reading customers: one, a page in creation order, the ids a partner may see, and the scan
path's view (the enabled customers' policies and what changed since a version)."""

from __future__ import annotations

from sqlalchemy import select

from index.hashes import Algorithm
from reporting import models
from reporting.customers.rows import CustomerTable, find_customer, sites_of, view_of
from reporting.customers.values import CustomerSettings, CustomerView
from scanner.customer_policy import CustomerPolicy, PolicyChanges
from scanner.errors import InvalidRequest
from scanner.paging import page_id

MAX_PAGE = 500


class CustomerReading(CustomerTable):
    def get(self, customer_id: str, partner: str | None) -> CustomerView:
        with self._sessions() as session:
            return view_of(session, find_customer(session, customer_id, partner))

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
            sites = sites_of(session, [row.id for row in rows])
            views = [view_of(session, row, sites.get(row.id, ())) for row in rows]
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

    # --- the scan path's view (``scanner.customer_policy.PolicySource``) ------------------

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


def policy_of(row: models.Customer) -> CustomerPolicy:
    settings = CustomerSettings.from_json(row.settings)
    return CustomerPolicy(
        row.customer_id,
        frozenset(settings.lists) if settings.lists else None,
        {Algorithm(k): v for k, v in settings.thresholds.items()},
        settings.degraded_verdict or None,
    )
