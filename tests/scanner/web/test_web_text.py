"""The review page's note field on a real uvicorn server: a control character is refused with a
clear message and nothing is decided; line breaks and tabs, as a text area sends them, are kept."""

from __future__ import annotations

import httpx
import pyotp

from reporting.review.queue import ReviewQueue
from tests.scanner.web import pages as support
from tests.scanner.web.pages import Reviewing
from tests.scanner.web.test_web_review import _csrf, _login

reviewing = support.reviewing


def test_a_note_with_a_control_character_is_refused_and_line_breaks_are_kept(reviewing: Reviewing) -> None:
    match_id = reviewing.match_id
    queue = ReviewQueue(reviewing.store.engine)
    with httpx.Client(base_url=reviewing.base_url, timeout=10) as client:
        assert _login(client, pyotp.TOTP(reviewing.analyst.totp_secret).now()).status_code == 303
        csrf = _csrf(client.get(f"/cases/{match_id}").text)

        refused = client.post(
            f"/cases/{match_id}/decide", data={"csrf": csrf, "decision": "escalate", "note": "see\x1b[2Jthis"}
        )
        assert refused.status_code == 400 and "U+001B" in refused.text
        assert queue.case(match_id, "test").state == "open"

        note = "first line\r\nsecond\tline"
        decided = client.post(
            f"/cases/{match_id}/decide", data={"csrf": csrf, "decision": "escalate", "note": note}
        )
        assert decided.status_code == 303
    assert queue.case(match_id, "test").note == note
