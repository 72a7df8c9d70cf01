"""A customer's sites: hostnames and zones (``*.example.org``), each owned by one customer."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from reporting import audit, models
from reporting.customers.rows import CustomerTable, find_customer, touch, view_of
from reporting.customers.values import CustomerView, check_host
from scanner.errors import AlreadyExists, NotFound


class CustomerSites(CustomerTable):
    def add_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = "system"
    ) -> CustomerView:
        name = check_host(host)
        try:
            with self._sessions.begin() as session:
                row = find_customer(session, customer_id, partner, lock=True)
                session.add(models.CustomerSite(customer_pk=row.id, host=name))
                session.flush()
                touch(session, row)
                audit.record(session, actor, "customer.site_add", f"customer:{customer_id}", {"host": name})
                return view_of(session, row)
        except IntegrityError:
            raise AlreadyExists(f"the site {name} belongs to a customer already") from None

    def remove_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = "system"
    ) -> CustomerView:
        name = check_host(host)
        with self._sessions.begin() as session:
            row = find_customer(session, customer_id, partner, lock=True)
            site = session.scalar(
                select(models.CustomerSite).where(
                    models.CustomerSite.customer_pk == row.id, models.CustomerSite.host == name
                )
            )
            if site is None:
                raise NotFound(f"customer {customer_id} has no site {name}")
            session.delete(site)
            touch(session, row)
            audit.record(session, actor, "customer.site_remove", f"customer:{customer_id}", {"host": name})
            return view_of(session, row)
