"""What one recorded match writes, in the same transaction."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
from sqlalchemy import select

from index.hashes import Hash
from index.matcher import Matcher
from reporting import models
from reporting.matches.blocks import Blocks
from reporting.matches.evidence import EvidenceBox, EvidenceKeyError
from reporting.matches.evidence_store import EvidenceStore, EvidenceUnavailable
from reporting.store import ActionConfig, NewEntry, Store
from scanner.decision import decide
from scanner.recording import ScanContext

A = Hash.from_hex("pdq", "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22")
CONTENT = b"\xff\xd8 pretend these are the matched image bytes \xff\xd9"


@pytest.fixture
def acting(store: Store) -> Store:
    box = EvidenceBox(os.urandom(32))
    return Store(store.engine, ActionConfig(evidence=box, evidence_days=365))


def _match(store: Store, url: str = "https://site.example/a.jpg", customer: str = "cust") -> int:
    # The hits as the scan's decision step leaves them: the list's policy gives them their action.
    matcher = Matcher(store.matcher_inputs())
    decision = decide(matcher.match([A]), matcher.configs())
    return store.record_match(
        ScanContext("r", customer, url, "192.0.2.1", "image/jpeg"), [A], decision, CONTENT
    )


def _rows(store: Store, model: type[models.Base]) -> list[models.Base]:
    with store._sessions() as session:
        return list(session.scalars(select(model)))


def test_a_match_writes_block_event_deliveries_report_and_evidence(acting: Store) -> None:
    acting.import_entries("ncmec", [NewEntry(A, "ncmec-1")])
    acting.set_policy("ncmec", {"report": "immediately"})
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
        session.add(models.Destination(customer_id="cust", kind="email", config={}, mode="digest"))
        session.add(models.Destination(customer_id="other", kind="email", config={}))

    match_id = _match(acting)

    [block] = _rows(acting, models.Block)
    assert isinstance(block, models.Block)
    assert (block.customer_id, block.url, block.state, block.match_id) == (
        "cust",
        "https://site.example/a.jpg",
        "active",
        match_id,
    )
    events = {e.kind: e for e in _rows(acting, models.Event) if isinstance(e, models.Event)}
    assert set(events) == {"match", "report"}
    assert events["match"].payload["url"] == "https://site.example/a.jpg"
    assert events["match"].payload["hits"][0]["list"] == "ncmec"
    assert "content" not in str(events["match"].payload)
    deliveries = sorted(
        (d.target, d.state) for d in _rows(acting, models.Delivery) if isinstance(d, models.Delivery)
    )
    assert deliveries == [
        ("destination:1", "pending"),
        ("destination:2", "digest"),
        ("report:cybertipline", "pending"),
    ]
    [report] = _rows(acting, models.Report)
    assert isinstance(report, models.Report)
    assert (report.match_id, report.partner, report.step) == (match_id, "cybertipline", "new")

    evidence = EvidenceStore(acting.engine, acting.actions.evidence)
    view = evidence.describe(match_id)
    assert view is not None and view.size == len(CONTENT) and not view.purged
    assert view.preserve_until - view.created_at == timedelta(days=365)
    [sealed] = _rows(acting, models.Evidence)
    assert isinstance(sealed, models.Evidence) and sealed.ciphertext is not None
    assert CONTENT not in sealed.ciphertext
    assert evidence.read(match_id, actor="analyst-1", purpose="case review") == CONTENT
    assert [(a, p) for a, p, _ in evidence.accesses(match_id)] == [("analyst-1", "case review")]


def test_blocks_are_idempotent_per_customer_and_url(acting: Store) -> None:
    acting.import_entries("l", [NewEntry(A)])
    first = _match(acting)
    _match(acting)
    _match(acting, url="https://site.example/b.jpg")
    blocks = Blocks(acting.engine).all()
    assert sorted((b.url, b.state) for b in blocks) == [
        ("https://site.example/a.jpg", "active"),
        ("https://site.example/b.jpg", "active"),
    ]
    [a] = [b for b in blocks if b.url.endswith("a.jpg")]
    assert a.match_id == first
    statuses = acting.block_status("cust", ["https://site.example/a.jpg", "https://site.example/zzz.jpg"])
    assert [s.state for s in statuses] == ["active", "none"]
    assert acting.block_status("someone-else", ["https://site.example/a.jpg"])[0].state == "none"


def test_resolving_a_block_tells_the_customer_and_a_new_match_blocks_again(acting: Store) -> None:
    acting.import_entries("l", [NewEntry(A)])
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    _match(acting)
    blocks = Blocks(acting.engine)
    [block] = blocks.all()
    assert blocks.resolve(block.id, "content removed")
    assert not blocks.resolve(block.id, "again")
    resolved = [
        e for e in _rows(acting, models.Event) if isinstance(e, models.Event) and e.kind == "case_resolved"
    ]
    assert [e.payload["reason"] for e in resolved] == ["content removed"]
    assert acting.block_status("cust", [block.url])[0].state == "resolved"
    second = _match(acting)
    [again] = blocks.all()
    assert (again.state, again.match_id, again.resolved_at) == ("active", second, None)


def test_a_block_hook_leaves_the_block_pending_until_applied(store: Store) -> None:
    hooked = Store(store.engine, ActionConfig(block_hook=True))
    hooked.import_entries("l", [NewEntry(A)])
    _match(hooked)
    [block] = Blocks(hooked.engine).all()
    assert block.state == "pending"
    assert [d.target for d in _rows(hooked, models.Delivery) if isinstance(d, models.Delivery)] == ["block"]


def test_a_quiet_policy_records_the_match_and_nothing_else(acting: Store) -> None:
    acting.import_entries("own", [NewEntry(A)])
    acting.set_policy("own", {"notify": False, "block": False, "preserve": False})
    with acting._sessions.begin() as session:
        session.add(models.Destination(customer_id="cust", kind="webhook", config={}))
    assert _match(acting) > 0
    for model in (models.Block, models.Event, models.Delivery, models.Report, models.Evidence):
        assert _rows(acting, model) == []


def test_evidence_is_purged_after_its_period_and_then_unreadable(acting: Store) -> None:
    acting.import_entries("l", [NewEntry(A)])
    match_id = _match(acting)
    evidence = EvidenceStore(acting.engine, acting.actions.evidence)
    assert evidence.purge_expired(models.utcnow() + timedelta(days=364)) == 0
    assert evidence.purge_expired(models.utcnow() + timedelta(days=366)) == 1
    with pytest.raises(EvidenceUnavailable, match="purged"):
        evidence.read(match_id, "analyst", "review")
    view = evidence.describe(match_id)
    assert view is not None and view.purged and view.sha256


def test_evidence_with_the_wrong_key_or_moved_between_matches_does_not_open() -> None:
    box = EvidenceBox(os.urandom(32))
    sealed = box.seal(7, CONTENT)
    with pytest.raises(EvidenceKeyError):
        EvidenceBox(os.urandom(32)).open(7, sealed)
    with pytest.raises(EvidenceKeyError):
        box.open(8, sealed)
    assert box.open(7, sealed) == CONTENT
    with pytest.raises(EvidenceKeyError, match="base64"):
        EvidenceBox.from_setting("not base64!!", data_dir=None)  # type: ignore[arg-type]
    assert EvidenceBox.from_setting(base64.b64encode(b"k" * 32).decode(), data_dir=None).key_id  # type: ignore[arg-type]
