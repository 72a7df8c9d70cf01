"""An analyst in real headless Chromium: logs in with password + TOTP, sees a blurred greyscale
case (checked on a screenshot), reveals it (recorded), marks it false positive; the block
resolves, the customer's webhook hears ``case_resolved``, and ``hashwatch audit verify`` passes —
and fails once a record is edited in the database.

Needs ``HASHWATCH_TEST_CHROMIUM=/usr/bin/chromium`` (Debian's ``chromium`` package); driven by
the ``playwright`` package against that binary, never a downloaded browser.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pyotp
import pytest
from PIL import Image
from sqlalchemy import select, text
from typer.testing import CliRunner

from reporting import models
from reporting.matches.blocks import Blocks
from scanner.cli.main import app as cli
from tests.conftest import _skip_or_fail
from tests.scanner.web import pages as support
from tests.scanner.web.pages import CUSTOMER, PASSWORD, ROCKET, URL, Reviewing

CHROMIUM_ENV = "HASHWATCH_TEST_CHROMIUM"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

reviewing = support.reviewing


@pytest.fixture
def chromium() -> str:
    path = os.environ.get(CHROMIUM_ENV, "")
    if not path:
        _skip_or_fail(f"the browser test needs {CHROMIUM_ENV}=/usr/bin/chromium (apt-get install chromium)")
    if not Path(path).is_file():
        _skip_or_fail(f"{CHROMIUM_ENV}={path} is not a file")
    return path


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _edge_energy(grey: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: high for sharp, low for blurred."""
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _audit_verify(reviewing: Reviewing) -> tuple[int, str]:
    where = [
        "--data-dir",
        str(reviewing.settings.data_dir),
        "--database-url",
        reviewing.settings.resolved_database_url,
    ]
    result = CliRunner().invoke(cli, ["audit", "verify", *where])
    return result.exit_code, result.stdout + result.stderr


def test_an_analyst_reviews_a_case_in_chromium(chromium: str, reviewing: Reviewing, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    match_id = reviewing.match_id
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(f"{reviewing.base_url}/")
            assert page.url.endswith("/login")
            page.fill("#username", "ann")
            page.fill("#password", PASSWORD)
            page.fill("#code", pyotp.TOTP(reviewing.analyst.totp_secret).now())
            page.click("#login")
            page.wait_for_url(f"{reviewing.base_url}/")
            page.click(f"a[href='/cases/{match_id}']")
            page.wait_for_url(f"{reviewing.base_url}/cases/{match_id}")
            assert page.inner_text("#url") == URL

            evidence = page.locator("#evidence")
            evidence.wait_for()
            page.wait_for_function("() => { const i = document.querySelector('#evidence'); "
                                   "return i.complete && i.naturalWidth > 0; }")  # fmt: skip
            assert evidence.get_attribute("src") == f"/cases/{match_id}/image"
            page.screenshot(path=str(tmp_path / "blurred-page.png"), full_page=True)
            blurred = _pixels(evidence.screenshot())

            # Greyscale: every pixel of the image region has R == G == B.
            assert blurred.shape[0] > 100 and blurred.shape[1] > 100
            # (Chromium's colour conversion of a grey PNG may leave a channel off by a few levels;
            # the colour original spreads its channels by ~100.)
            spread = blurred.max(axis=2) - blurred.min(axis=2)
            assert int(spread.max()) <= 4, f"colour in the default view (max channel spread {spread.max()})"
            assert float(spread.mean()) < 1.0, f"colour in the default view (mean spread {spread.mean()})"
            # Blurred: far less edge energy than the original at the same size, yet not blank.
            height, width = blurred.shape[:2]
            reference = Image.open(ROCKET).convert("L").resize((width, height), Image.Resampling.LANCZOS)
            original_energy = _edge_energy(np.asarray(reference, dtype=np.int16))
            blurred_energy = _edge_energy(blurred[:, :, 0])
            assert blurred_energy < 0.35 * original_energy, (blurred_energy, original_energy)
            assert float(blurred[:, :, 0].std()) > 5, "the preview is blank"
            assert "Reveals today: 0 of 2" in page.inner_text("#exposure")

            page.click("#reveal")
            page.wait_for_url(f"{reviewing.base_url}/cases/{match_id}#evidence")
            page.wait_for_function("() => { const i = document.querySelector('#evidence'); "
                                   "return i.complete && i.naturalWidth > 0; }")  # fmt: skip
            assert evidence.get_attribute("src") == f"/cases/{match_id}/image/original"
            revealed = _pixels(evidence.screenshot())
            assert int((revealed.max(axis=2) - revealed.min(axis=2)).max()) > 30, "the reveal is still grey"
            assert _edge_energy(revealed.mean(axis=2)) > 2 * blurred_energy
            assert "Reveals today: 1 of 2" in page.inner_text("#exposure")
            with reviewing.store._sessions() as session:
                reveals = session.scalars(
                    select(models.AuditRecord).where(models.AuditRecord.action == "evidence.reveal")
                ).all()
            assert [(r.actor, r.subject) for r in reveals] == [("analyst:ann", f"match:{match_id}")]

            page.fill("#decision-note", "a rocket launch, not abuse")
            page.click("#false-positive")
            page.wait_for_url(f"{reviewing.base_url}/cases/{match_id}?done=false_positive")
            assert page.inner_text("#state") == "false_positive"
            assert page.inner_text("#block") == "resolved"
            page.screenshot(path=str(tmp_path / "decided-page.png"), full_page=True)
        finally:
            browser.close()

    [block] = Blocks(reviewing.store.engine).all(customer_id=CUSTOMER)
    assert block.state == "resolved" and block.url == URL
    reviewing.drain_outbox()
    reviewing.receiver.wait_for(2)
    events = reviewing.receiver.events()
    assert [e["kind"] for e in events] == ["match", "case_resolved"]
    assert events[1]["case_id"] == match_id and events[1]["payload"]["block"] == "resolved"
    assert reviewing.receiver.valid_signatures()
    # The flagged entry left the running matcher: the same image is allowed now.
    assert not reviewing.engine.scan(ROCKET.read_bytes(), support.context("r2")).hits

    code, output = _audit_verify(reviewing)
    assert code == 0, output
    assert "intact" in output
    with reviewing.store.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET details = :details WHERE action = 'case.false_positive'"),
            {"details": json.dumps({"note": "edited later"})},
        )
    code, output = _audit_verify(reviewing)
    assert code == 1 and "BROKEN" in output, output
