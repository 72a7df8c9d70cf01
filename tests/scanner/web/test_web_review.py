"""The review page over HTTP (no browser): login, sessions, CSRF, headers, blurred images,
reveals against the daily limit, decisions, and their audit records."""

from __future__ import annotations

import io
import re

import httpx
import pyotp
from PIL import Image
from sqlalchemy import select

from reporting import audit, models
from reporting.matches.evidence_store import EvidenceStore
from tests.scanner.web import pages as support
from tests.scanner.web.pages import PASSWORD, Reviewing

# The shared fixture, made visible to pytest in this module.
reviewing = support.reviewing

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _csrf(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def _login(client: httpx.Client, code: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login", data={"csrf": _csrf(form.text), "username": "ann", "password": password, "code": code}
    )


def _actions(reviewing: Reviewing) -> list[tuple[str, str]]:
    with reviewing.store._sessions() as session:
        rows = session.scalars(select(models.AuditRecord).order_by(models.AuditRecord.id))
        return [(r.actor, r.action) for r in rows]


def test_login_sessions_csrf_and_headers(reviewing: Reviewing) -> None:
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        first = client.get("/")
        assert first.status_code == 303 and first.headers["location"] == "/login"
        for response in (first, client.get("/login"), client.get("/static/review.css")):
            assert response.headers["cache-control"] == "no-store"
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert "script-src" not in response.headers["content-security-policy"]
            assert response.headers["x-frame-options"] == "DENY"

        assert _login(client, "000000").status_code == 401
        assert (
            _login(client, reviewing.analyst.recovery_codes[0], password="wrong password!").status_code == 401
        )
        no_csrf = client.post("/login", data={"username": "ann", "password": PASSWORD, "code": "1"})
        assert no_csrf.status_code == 403

        # A recovery code stands in for TOTP, once.
        ok = _login(client, reviewing.analyst.recovery_codes[0])
        assert ok.status_code == 303 and ok.headers["location"] == "/"
        cookie = next(v for k, v in ok.headers.multi_items() if k == "set-cookie" and "hw_session=" in v)
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        queue = client.get("/")
        assert queue.status_code == 200 and f"/cases/{reviewing.match_id}" in queue.text

        client.post("/logout", data={"csrf": _csrf(queue.text)})
        assert client.get("/").status_code == 303
        client.cookies.clear()
        assert _login(client, reviewing.analyst.recovery_codes[0]).status_code == 401
        assert _login(client, pyotp.TOTP(reviewing.analyst.totp_secret).now()).status_code == 303

    actions = [a for actor, a in _actions(reviewing) if actor == "analyst:ann"]
    assert actions.count("analyst.login_failed") == 3
    assert actions.count("web.session_start") == 2 and "web.session_end" in actions


def _login_failures(reviewing: Reviewing) -> list[dict[str, object]]:
    with reviewing.store._sessions() as session:
        rows = session.scalars(
            select(models.AuditRecord)
            .where(models.AuditRecord.action == "analyst.login_failed")
            .order_by(models.AuditRecord.id)
        )
        return [dict(r.details) for r in rows]


def test_a_code_in_other_digits_fails_alike_with_the_right_or_wrong_password(reviewing: Reviewing) -> None:
    """Arabic-Indic (and other Unicode) digits pass ``str.isdigit``; they must neither crash the
    code check (which would answer the right password differently) nor skip the lockout."""
    code = pyotp.TOTP(reviewing.analyst.totp_secret).now()
    # The right code in Arabic-Indic, Persian and full-width digits.
    codes = [code.translate({48 + d: zero + d for d in range(10)}) for zero in (0x660, 0x6F0, 0xFF10)]
    answers = []
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        for other in codes[:2]:
            right, wrong = _login(client, other), _login(client, other, password="wrong password!")
            answers += [right, wrong]
    assert [a.status_code for a in answers] == [401] * 4
    assert len({a.text.replace(_csrf(a.text), "") for a in answers}) == 1, "the same page every time"
    failures = _login_failures(reviewing)
    assert len(failures) == 4
    assert [f["reason"] for f in failures[1::2]] == ["wrong password"] * 2
    assert all(f["reason"] != "wrong password" for f in failures[0::2])
    # The fifth failure in a row locks the account: the right password and a right code no longer work.
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        assert _login(client, codes[2]).status_code == 401
        assert "locked_until" in _login_failures(reviewing)[-1]
        assert _login(client, pyotp.TOTP(reviewing.analyst.totp_secret).now()).status_code == 401
    assert _login_failures(reviewing)[-1]["reason"] == "account locked"
    assert audit.verify(reviewing.store.engine).ok


def test_blurred_by_default_reveal_is_recorded_and_limited_then_decide(reviewing: Reviewing) -> None:
    match_id = reviewing.match_id
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        assert _login(client, pyotp.TOTP(reviewing.analyst.totp_secret).now()).status_code == 303
        page = client.get(f"/cases/{match_id}")
        assert page.status_code == 200 and "shop.example/img/rocket.jpg" in page.text
        csrf = _csrf(page.text)

        blurred = client.get(f"/cases/{match_id}/image")
        assert blurred.status_code == 200 and blurred.headers["content-type"] == "image/png"
        assert blurred.headers["cache-control"] == "no-store"
        assert Image.open(io.BytesIO(blurred.content)).mode == "L"
        assert client.get(f"/cases/{match_id}/image/original").status_code == 403

        assert client.post(f"/cases/{match_id}/reveal", data={}).status_code == 403
        assert client.post(f"/cases/{match_id}/reveal", data={"csrf": csrf}).status_code == 303
        original = client.get(f"/cases/{match_id}/image/original")
        assert original.status_code == 200 and Image.open(io.BytesIO(original.content)).mode == "RGB"
        assert client.post(f"/cases/{match_id}/reveal", data={"csrf": csrf}).status_code == 303
        refused = client.post(f"/cases/{match_id}/reveal", data={"csrf": csrf})
        assert refused.status_code == 429 and "the limit is 2" in refused.text

        foreign = client.post(
            f"/cases/{match_id}/decide",
            data={"csrf": csrf, "decision": "escalate"},
            headers={"origin": "https://evil.example"},
        )
        assert foreign.status_code == 403
        escalated = client.post(f"/cases/{match_id}/decide", data={"csrf": csrf, "decision": "escalate"})
        assert escalated.status_code == 303
        assert "escalated" in client.get(f"/cases/{match_id}").text

    actions = [a for actor, a in _actions(reviewing) if actor == "analyst:ann"]
    for expected in (
        "case.view",
        "evidence.view_blurred",
        "evidence.reveal",
        "evidence.view_original",
        "evidence.reveal_refused",
        "case.escalate",
    ):
        assert expected in actions, expected
    assert actions.count("evidence.reveal") == 2
    accesses = EvidenceStore(reviewing.store.engine, None).accesses(match_id)
    assert [(a, p) for a, p, _ in accesses] == [
        ("analyst:ann", "review: blurred preview"),
        ("analyst:ann", "review: revealed image"),
    ]
    assert audit.verify(reviewing.store.engine).ok


def test_an_auditor_cannot_open_the_queue_or_the_images(reviewing: Reviewing) -> None:
    from reporting.access.accounts import Accounts

    enrolment = Accounts(reviewing.store.engine).create("aud", PASSWORD, "auditor", actor="test")
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        form = client.get("/login")
        code = pyotp.TOTP(enrolment.totp_secret).now()
        data = {"csrf": _csrf(form.text), "username": "aud", "password": PASSWORD, "code": code}
        assert client.post("/login", data=data).status_code == 303
        denied = client.get("/")
        assert denied.status_code == 403 and "does not allow" in denied.text
        assert client.get(f"/cases/{reviewing.match_id}/image").status_code == 403
    assert not [a for actor, a in _actions(reviewing) if actor == "analyst:aud" and a.startswith("evidence.")]
