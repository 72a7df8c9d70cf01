"""What the review tests share: two listed hashes, the analysts, a case made as a scan makes one,
and reads of the rows and audit records a test checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from index.hashes import Hash
from index.matcher import Matcher
from reporting import models
from reporting.review.values import Reviewer
from reporting.store import Store
from scanner.recording import ScanContext
from tests.decisions import as_decided

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
M = Hash.from_hex("md5", "0" * 31 + "1")
CONTENT = b"\xff\xd8 pretend these are the matched image bytes \xff\xd9"
ANALYST = Reviewer("analyst:ann")
ADMIN = Reviewer("analyst:root", admin=True)


def new_case(store: Store, url: str, customer: str = "cust", hashes: tuple[Hash, ...] = (A,)) -> int:
    hits = Matcher(store.matcher_inputs()).match(list(hashes))
    assert hits, "the test hash must match"
    context = ScanContext("req", customer, url, "192.0.2.1", "image/jpeg")
    return store.record_match(context, list(hashes), as_decided(store, hits), CONTENT)


def rows(store: Store, model: type[Any]) -> list[Any]:
    with store._sessions() as session:
        return list(session.scalars(select(model).order_by(text("1"))))


def audit_actions(store: Store) -> list[tuple[str, str, str]]:
    with store._sessions() as session:
        records = session.scalars(select(models.AuditRecord).order_by(models.AuditRecord.id))
        return [(r.actor, r.action, r.subject) for r in records]
