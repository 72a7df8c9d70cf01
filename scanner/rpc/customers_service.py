"""The ``hashwatch.v1.Customers`` servicer: customers, sites, verified email, settings.

Storage is a ``CustomersBackend``; ``reporting.customers.store.CustomerStore`` implements it (its
types, ``reporting.customers.values``, are only named here for the type checker). Whose
customers a call reaches comes from the verified principal alone: a partner-bound token reaches
its partner's customers (any other id is NOT_FOUND, raised by the backend), a
customers:read/write or admin token reaches all. Served only with authentication on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import timestamp_pb2

from scanner.api.hashwatch.v1 import customers_pb2 as pb
from scanner.api.hashwatch.v1 import customers_pb2_grpc as pb_grpc
from scanner.auth import CUSTOMERS_READ, CUSTOMERS_WRITE, PermissionDenied, Principal, current_principal
from scanner.errors import InvalidRequest
from scanner.rpc.service import Service

if TYPE_CHECKING:
    from reporting.customers.values import CustomerSettings, CustomerView, DeleteResult

DEFAULT_PAGE = 50
MAX_PAGE = 500

_EMAIL_STATES = {
    "unverified": pb.EMAIL_STATE_UNVERIFIED,
    "pending": pb.EMAIL_STATE_PENDING,
    "verified": pb.EMAIL_STATE_VERIFIED,
}
_DEGRADED = {
    "": pb.DEGRADED_VERDICT_DEFAULT,
    "block": pb.DEGRADED_VERDICT_BLOCK,
    "allow": pb.DEGRADED_VERDICT_ALLOW,
}
_DEGRADED_NAMES = {value: name for name, value in _DEGRADED.items()}
_NOTIFY = {"immediate": pb.NOTIFY_MODE_IMMEDIATE, "digest": pb.NOTIFY_MODE_DIGEST}
_NOTIFY_NAMES = {value: name for name, value in _NOTIFY.items()}
_SETTING_PATHS = ("lists", "thresholds", "degraded_verdict", "notify")


class CustomersBackend(Protocol):
    def get(self, customer_id: str, partner: str | None) -> CustomerView: ...

    def list_page(
        self, partner: str | None, page_size: int = ..., page_token: str = ...
    ) -> tuple[list[CustomerView], str]: ...

    def create(
        self,
        customer_id: str,
        partner: str | None,
        *,
        name: str = ...,
        settings: CustomerSettings | None = ...,
        sites: Any = ...,
        owner: str | None = ...,
        actor: str = ...,
    ) -> CustomerView: ...

    def update(
        self,
        customer_id: str,
        partner: str | None,
        *,
        name: str | None = ...,
        settings: Mapping[str, Any] | None = ...,
        actor: str = ...,
    ) -> CustomerView: ...

    def delete(self, customer_id: str, partner: str | None, actor: str = ...) -> DeleteResult: ...

    def add_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = ...
    ) -> CustomerView: ...

    def remove_site(
        self, customer_id: str, partner: str | None, host: str, actor: str = ...
    ) -> CustomerView: ...

    def set_email(
        self, customer_id: str, partner: str | None, email: str, actor: str = ...
    ) -> CustomerView: ...

    def verify_email(
        self, customer_id: str, partner: str | None, code: str, actor: str = ...
    ) -> CustomerView: ...

    def set_enabled(
        self, customer_id: str, partner: str | None, enabled: bool, actor: str = ...
    ) -> CustomerView: ...


class SettingsFactory(Protocol):
    """``reporting.customers.values.CustomerSettings``, passed in so this module never imports it."""

    def __call__(
        self,
        lists: tuple[str, ...] = ...,
        thresholds: Mapping[str, int] = ...,
        degraded_verdict: str = ...,
        notify: str = ...,
    ) -> CustomerSettings: ...


class CustomersService(pb_grpc.CustomersServicer):
    def __init__(self, backend: CustomersBackend, settings: SettingsFactory) -> None:
        self.backend = backend
        self.settings = settings

    def served(self) -> Service:
        return Service.of(self, pb_grpc.add_CustomersServicer_to_server, pb, "Customers")

    def CreateCustomer(self, request: pb.CreateCustomerRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        settings = _settings_from_pb(request.settings)
        return _customer(
            self.backend.create(
                request.customer_id,
                partner,
                name=request.name,
                settings=self.settings(**settings),
                sites=list(request.sites),
                owner=request.partner_id or None,
                actor=caller.actor,
            )
        )

    def GetCustomer(self, request: pb.GetCustomerRequest, context: grpc.ServicerContext) -> pb.Customer:
        _, partner = _caller(context)
        return _customer(self.backend.get(_required(request.customer_id), partner))

    def UpdateCustomer(self, request: pb.UpdateCustomerRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidRequest("update_mask must name the fields to change", "update_mask")
        given = _settings_from_pb(request.settings)
        changes: dict[str, Any] = {}
        name = None
        for path in paths:
            if path == "name":
                name = request.name
            elif path == "settings":
                changes.update(given)
            elif path.startswith("settings.") and path.removeprefix("settings.") in _SETTING_PATHS:
                key = path.removeprefix("settings.")
                changes[key] = given[key]
            else:
                raise InvalidRequest(f"update_mask: cannot change {path!r}", "update_mask")
        return _customer(
            self.backend.update(
                _required(request.customer_id), partner, name=name, settings=changes, actor=caller.actor
            )
        )

    def ListCustomers(
        self, request: pb.ListCustomersRequest, context: grpc.ServicerContext
    ) -> pb.ListCustomersResponse:
        _, partner = _caller(context)
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative", "page_size")
        views, token = self.backend.list_page(
            partner, min(request.page_size or DEFAULT_PAGE, MAX_PAGE), request.page_token
        )
        return pb.ListCustomersResponse(customers=[_customer(v) for v in views], next_page_token=token)

    def DeleteCustomer(
        self, request: pb.DeleteCustomerRequest, context: grpc.ServicerContext
    ) -> pb.DeleteCustomerResponse:
        caller, partner = _caller(context)
        result = self.backend.delete(_required(request.customer_id), partner, actor=caller.actor)
        return pb.DeleteCustomerResponse(
            customer_id=result.customer_id,
            matches_kept=result.matches_kept,
            blocks_kept=result.blocks_kept,
            evidence_kept=result.evidence_kept,
            destinations_disabled=result.destinations_disabled,
        )

    def AddSite(self, request: pb.SiteRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.add_site(_required(request.customer_id), partner, request.host, actor=caller.actor)
        )

    def RemoveSite(self, request: pb.SiteRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.remove_site(
                _required(request.customer_id), partner, request.host, actor=caller.actor
            )
        )

    def SetEmail(self, request: pb.SetEmailRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.set_email(_required(request.customer_id), partner, request.email, actor=caller.actor)
        )

    def VerifyEmail(self, request: pb.VerifyEmailRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.verify_email(
                _required(request.customer_id), partner, request.code, actor=caller.actor
            )
        )

    def EnableCustomer(self, request: pb.EnableCustomerRequest, context: grpc.ServicerContext) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.set_enabled(_required(request.customer_id), partner, True, actor=caller.actor)
        )

    def DisableCustomer(
        self, request: pb.DisableCustomerRequest, context: grpc.ServicerContext
    ) -> pb.Customer:
        caller, partner = _caller(context)
        return _customer(
            self.backend.set_enabled(_required(request.customer_id), partner, False, actor=caller.actor)
        )


def _caller(context: grpc.ServicerContext) -> tuple[Principal, str | None]:
    """The caller, and the partner it is bound to (None: an operator, who reaches everyone)."""
    principal = current_principal()
    if principal is None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "the customers service needs an authenticated caller")
    if principal.partner_id is not None:
        return principal, principal.partner_id
    if principal.allows({CUSTOMERS_READ, CUSTOMERS_WRITE}):
        return principal, None
    raise PermissionDenied(f"{principal.actor} holds the partner scope without a partner")


def _required(customer_id: str) -> str:
    if not customer_id:
        raise InvalidRequest("customer_id is required", "customer_id")
    return customer_id


def _settings_from_pb(settings: pb.CustomerSettings) -> dict[str, Any]:
    if settings.degraded_verdict not in _DEGRADED_NAMES:
        raise InvalidRequest("unknown degraded_verdict", "settings.degraded_verdict")
    if settings.notify not in (pb.NOTIFY_MODE_UNSPECIFIED, *_NOTIFY_NAMES):
        raise InvalidRequest("unknown notify mode", "settings.notify")
    return {
        "lists": tuple(settings.lists),
        "thresholds": dict(settings.thresholds),
        "degraded_verdict": _DEGRADED_NAMES[settings.degraded_verdict],
        "notify": _NOTIFY_NAMES.get(settings.notify, "immediate"),
    }


def _customer(view: CustomerView) -> pb.Customer:
    return pb.Customer(
        customer_id=view.customer_id,
        partner_id=view.partner_id or "",
        name=view.name,
        email=view.email,
        email_state=_EMAIL_STATES[view.email_state],
        enabled=view.enabled,
        settings=pb.CustomerSettings(
            lists=list(view.settings.lists),
            thresholds=dict(view.settings.thresholds),
            degraded_verdict=_DEGRADED[view.settings.degraded_verdict],
            notify=_NOTIFY[view.settings.notify],
        ),
        sites=list(view.sites),
        created_at=_time(view.created_at),
        updated_at=_time(view.updated_at),
    )


def _time(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp
