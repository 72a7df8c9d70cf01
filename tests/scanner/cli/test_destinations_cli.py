"""``hashwatch destinations add`` takes its flags from the registered kinds' declarations, and
stores what they say exactly as before they were derived."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from reporting.destinations.registry import KINDS
from scanner.cli.destinations_cmd import flags_for
from scanner.cli.main import app as cli
from tests.reporting.destinations.test_schema import ECHO

ROUTING_KEY = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y42"
SECRET = "whsec-0123456789abcdef"
runner = CliRunner()


def _hashwatch(data: Path, *args: str, **env: str) -> str:
    environment: dict[str, str | None] = {
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_DATABASE_URL": None,
        "HASHWATCH_WEBHOOK_SECRET": None,
        "HASHWATCH_PAGERDUTY_ROUTING_KEY": None,
        **env,
    }
    result = runner.invoke(cli, list(args), env=environment, terminal_width=200)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_every_stored_field_of_every_kind_has_a_flag(tmp_path: Path) -> None:
    shown = _hashwatch(tmp_path, "destinations", "add", "--help")
    for kind in KINDS:
        assert kind.name in shown
        for spec in kind.fields:
            if spec.flag:
                assert "--" + spec.name.replace("_", "-") in shown, spec.name
    assert "HASHWATCH_WEBHOOK_SECRET" in shown and "HASHWATCH_PAGERDUTY_ROUTING_KEY" in shown
    assert "--mode" not in shown  # email's mode is the destination's, set with --digest


def test_the_flags_store_what_they_stored_before(tmp_path: Path) -> None:
    add = ["destinations", "add", "--customer", "shop"]
    _hashwatch(tmp_path, *add, "--kind", "email", "--to", "ops@shop.example", "--digest")
    _hashwatch(tmp_path, *add, "--kind", "webhook", "--url", "https://h.shop.example/hw", "--secret", SECRET)
    _hashwatch(
        tmp_path,
        *add,
        "--kind",
        "pagerduty",
        "--source",
        "edge-7",
        HASHWATCH_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
    )
    listed = [
        json.loads(line) for line in _hashwatch(tmp_path, "destinations", "list", "--json").splitlines()
    ]
    assert [(d["kind"], d["mode"], d["config"]) for d in listed] == [
        # One address as it was typed; the digest is the destination's mode, not its config.
        ("email", "digest", {"to": "ops@shop.example"}),
        # On/off flags and flags with a few values are stored as chosen; others when given.
        (
            "webhook",
            "immediate",
            {"url": "https://h.shop.example/hw", "secret": "****cdef", "allow_private": False},
        ),
        (
            "pagerduty",
            "immediate",
            {"routing_key": "****3y42", "severity": "critical", "source": "edge-7", "allow_private": False},
        ),
    ]


def test_a_kind_s_flags_follow_its_declaration() -> None:
    flags = {flag.spec.name: flag for flag in flags_for([ECHO])}
    assert list(flags) == ["url", "token", "labels", "loud", "tone"]
    options: dict[str, Any] = {
        name: flag.parameter().annotation.__metadata__[0] for name, flag in flags.items()
    }
    assert options["token"].envvar == "HASHWATCH_ECHO_TOKEN"
    assert flags["loud"].parameter().default is False
    assert flags["tone"].parameter().default == "calm"
    assert flags["url"].parameter().default is None
    assert options["tone"].help == "echo: the tone: calm or sharp."
    shared = {flag.spec.name: flag.kinds for flag in flags_for(KINDS)}
    assert shared["allow_private"][:2] == ("webhook", "pagerduty")
