from __future__ import annotations

from scanner.api.generate import stale_files


def test_generated_code_is_fresh_against_proto() -> None:
    stale = stale_files()
    assert stale == [], f"regenerate with `python -m scanner.api.generate`; stale: {stale}"
