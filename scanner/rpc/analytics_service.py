"""The ``hashwatch.v1.Analytics`` servicer: per-customer daily counts, one customer or all.

What a caller may see is decided by ``visible_customers``: ``None`` is every customer (operators
and admins), a sequence is those customers only (a partner's). A customer the caller may not
see is answered exactly as one that does not exist, NOT_FOUND, so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import grpc

from scanner.analytics import cursor
from scanner.analytics.ports import AnalyticsReader, DayCounts
from scanner.api.hashwatch.v1 import analytics_pb2 as pb
from scanner.api.hashwatch.v1 import analytics_pb2_grpc as pb_grpc
from scanner.api.hashwatch.v1 import scanner_pb2
from scanner.auth import ANALYTICS_READ, Principal, current_principal
from scanner.errors import InvalidRequest, NotFound
from scanner.outcomes import Outcome
from scanner.rpc import convert
from scanner.rpc.service import Service

VisibleCustomers = Callable[[Principal], Sequence[str] | None]

DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_PAGE = 500
MAX_PAGE = 5000


def operators_only(principal: Principal) -> Sequence[str] | None:
    """Every customer for a caller with ``analytics:read`` (``admin`` implies it) and no partner;
    none for anyone else. The server's default also lets a partner see the customers it owns
    (``scanner.store_ports.partner_customers``)."""
    if principal.partner_id is None and principal.allows({ANALYTICS_READ}):
        return None
    return []


class AnalyticsService(pb_grpc.AnalyticsServicer):
    def __init__(
        self,
        reader: AnalyticsReader,
        visible_customers: VisibleCustomers = operators_only,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.reader = reader
        self.visible_customers = visible_customers
        self.today = today

    def served(self) -> Service:
        return Service.of(self, pb_grpc.add_AnalyticsServicer_to_server, pb, "Analytics", needs_auth=False)

    def GetDailyCounts(
        self, request: pb.GetDailyCountsRequest, context: grpc.ServicerContext
    ) -> pb.GetDailyCountsResponse:
        if not request.customer_id:
            raise InvalidRequest("customer_id is required", field="customer_id")
        last = _day(request.to_day, "to_day") if request.to_day else self.today()
        first = _day(request.from_day, "from_day") if request.from_day else last - timedelta(DEFAULT_DAYS - 1)
        _check_range(first, last, MAX_DAYS)
        visible = self._visible()
        if visible is not None and request.customer_id not in set(visible):
            raise NotFound(f"no customer {request.customer_id!r}")
        days = self.reader.days(request.customer_id, first, last)
        return pb.GetDailyCountsResponse(days=[to_pb(d) for d in days])

    def ExportDailyCounts(
        self, request: pb.ExportDailyCountsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.DailyCounts]:
        if not request.from_day:
            raise InvalidRequest("from_day is required", field="from_day")
        first = _day(request.from_day, "from_day")
        last = _day(request.to_day, "to_day") if request.to_day else first
        _check_range(first, last, None)
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative", field="page_size")
        page_size = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        after = cursor.decode(request.cursor) if request.cursor else None
        visible = self._visible()
        if visible is not None and not visible:
            return
        for counts in self.reader.export(first, last, after, visible, page_size):
            yield to_pb(counts, cursor.encode(counts.day, counts.customer_id))

    def _visible(self) -> Sequence[str] | None:
        principal = current_principal()
        # No principal: the server runs without authentication, and every caller is trusted.
        return None if principal is None else self.visible_customers(principal)


def to_pb(counts: DayCounts, resume: str = "") -> pb.DailyCounts:
    return pb.DailyCounts(
        customer_id=counts.customer_id,
        day=counts.day.isoformat(),
        scans=counts.scans,
        scans_by_outcome=[
            pb.OutcomeCount(outcome=_outcome(name), count=n)
            for name, n in sorted(counts.scans_by_outcome.items())
        ],
        scans_allowed=counts.scans_by_verdict.get("allow", 0),
        scans_blocked=counts.scans_by_verdict.get("block", 0),
        matches=counts.matches,
        blocks=counts.blocks,
        reports_filed=counts.reports_filed,
        notifications_sent=counts.notifications_sent,
        notifications_failed=counts.notifications_failed,
        cursor=resume,
    )


def _outcome(name: str) -> scanner_pb2.Outcome.ValueType:
    try:
        return convert.OUTCOME_TO_PB[Outcome(name)]
    except ValueError:  # an outcome this build does not know (written by a newer one)
        return scanner_pb2.OUTCOME_UNSPECIFIED


def _day(text: str, field: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"{field} must be a day written YYYY-MM-DD, not {text!r}", field=field) from None


def _check_range(first: date, last: date, max_days: int | None) -> None:
    if last < first:
        raise InvalidRequest("to_day is before from_day", field="to_day")
    if max_days is not None and (last - first).days + 1 > max_days:
        raise InvalidRequest(f"at most {max_days} days at once", field="from_day")
