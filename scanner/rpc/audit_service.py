"""The ``hashwatch.v1.Audit`` servicer: read-only paging over the audit log.

Storage is an ``AuditReader``; ``reporting.audit.AuditLog`` implements it.
"""

from __future__ import annotations

import json

import grpc
from google.protobuf import timestamp_pb2

from scanner.api.hashwatch.v1 import audit_pb2 as pb
from scanner.api.hashwatch.v1 import audit_pb2_grpc as pb_grpc
from scanner.auditlog import AuditEntry, AuditReader
from scanner.errors import InvalidRequest
from scanner.paging import page_id
from scanner.rpc.service import Service

DEFAULT_PAGE = 100
MAX_PAGE = 1000


class AuditService(pb_grpc.AuditServicer):
    def __init__(self, reader: AuditReader) -> None:
        self.reader = reader

    def served(self) -> Service:
        return Service.of(self, pb_grpc.add_AuditServicer_to_server, pb, "Audit")

    def ListAuditLog(
        self, request: pb.ListAuditLogRequest, context: grpc.ServicerContext
    ) -> pb.ListAuditLogResponse:
        if request.page_size < 0:
            raise InvalidRequest("page_size must not be negative", field="page_size")
        limit = min(request.page_size or DEFAULT_PAGE, MAX_PAGE)
        before_id = page_id(request.page_token) if request.page_token else 0
        if request.page_token and before_id == 0:  # never given out: 0 means "from the newest"
            raise InvalidRequest("page_token is not one this service gave out", field="page_token")
        page = self.reader.entries(limit, before_id, request.action, request.actor)
        return pb.ListAuditLogResponse(
            records=[_record(e) for e in page.entries],
            next_page_token=str(page.next_before_id) if page.next_before_id else "",
        )


def _record(entry: AuditEntry) -> pb.AuditRecord:
    at = timestamp_pb2.Timestamp()
    at.FromDatetime(entry.at)
    return pb.AuditRecord(
        id=entry.id,
        at=at,
        actor=entry.actor,
        action=entry.action,
        subject=entry.subject,
        details_json=json.dumps(entry.details, sort_keys=True, ensure_ascii=False),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )
