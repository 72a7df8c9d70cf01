"""Secrets reach the ``hashwatch`` command without its command line, which every local user can
read in ``/proc/<pid>/cmdline``: from an environment variable, or, given as ``-``, from the first
line of standard input. One typed on the command line still works, with a warning. The clients
talk to a real ``hashwatch serve --require-auth``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.testing.pagerduty_receiver import PagerDutyReceiver
from reporting.testing.smtp_sink import SmtpSink
from reporting.testing.webhook_receiver import WebhookReceiver
from scanner.cli.main import app as cli
from tests.conftest import DEMO_LIST
from tests.scanner.serving import hashwatch_serve

SECRET = "whsec-from-stdin-0123456789"
ENV_SECRET = "whsec-from-environment-42"
ROUTING_KEY = "R0ut1ngK3yR0ut1ngK3yR0ut1ngK3y42"

runner = CliRunner()


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def _hashwatch(data: Path, *args: str, stdin: str = "", **env: str) -> Done:
    """The real command line, run in this process (typer's runner): arguments, environment, stdin."""
    environment: dict[str, str | None] = {
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_DATABASE_URL": None,
        "HASHWATCH_TOKEN": None,
        "HASHWATCH_WEBHOOK_SECRET": None,
        "HASHWATCH_PAGERDUTY_ROUTING_KEY": None,
        **env,
    }
    result = runner.invoke(cli, list(args), input=stdin, env=environment)
    return Done(result.exit_code, result.stdout, result.stderr)


def _ok(done: Done) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def _added_id(out: str) -> str:
    found = re.search(r"destination (\d+) added", out)
    assert found, out
    return found.group(1)


def test_destination_secrets_from_stdin_or_the_environment(tmp_path: Path) -> None:
    data = tmp_path / "var"
    with (
        WebhookReceiver(secret=SECRET) as from_stdin,
        WebhookReceiver(secret=ENV_SECRET) as from_env,
        PagerDutyReceiver() as pagerduty,
    ):
        hook = ["destinations", "add", "--customer", "shop", "--kind", "webhook", "--allow-private"]
        piped = _added_id(
            _ok(_hashwatch(data, *hook, "--url", from_stdin.url, "--secret", "-", stdin=SECRET))
        )
        exported = _added_id(
            _ok(_hashwatch(data, *hook, "--url", from_env.url, HASHWATCH_WEBHOOK_SECRET=ENV_SECRET))
        )
        pager = ["destinations", "add", "--customer", "_operators", "--kind", "pagerduty", "--allow-private"]
        pager += ["--events-url", pagerduty.events_url]
        paged = _added_id(_ok(_hashwatch(data, *pager, "--routing-key", "-", stdin=ROUTING_KEY + "\n")))

        for destination_id in (piped, exported, paged):
            assert "delivered" in _ok(_hashwatch(data, "destinations", "test", destination_id))
        assert from_stdin.valid_signatures() and len(from_stdin.requests) == 1
        assert from_env.valid_signatures() and len(from_env.requests) == 1
        assert [event["routing_key"] for event in pagerduty.accepted] == [ROUTING_KEY]

        # Typed on the command line it still works, and the user is told why not to.
        typed = _hashwatch(data, *hook, "--url", from_stdin.url, "--secret", SECRET)
        assert typed.returncode == 0, typed.stderr
        assert "--secret on the command line is visible" in typed.stderr
        assert "HASHWATCH_WEBHOOK_SECRET" in typed.stderr
        # An empty standard input is refused, not stored.
        empty = _hashwatch(data, *hook, "--url", from_stdin.url, "--secret", "-")
        assert empty.returncode == 2 and "standard input" in empty.stderr
    listed = _ok(_hashwatch(data, "destinations", "list", "--json"))
    assert SECRET not in listed and ENV_SECRET not in listed and ROUTING_KEY not in listed
    assert len(listed.splitlines()) == 4


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    """A real ``hashwatch serve --require-auth`` with the demo list; (data dir, address, token)."""
    data = tmp_path / "var"
    _ok(_hashwatch(data, "lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images"))
    token = _ok(_hashwatch(data, "tokens", "create", "--scope", "scan", "--scope", "analytics:read"))
    env = {"HASHWATCH_DATA_DIR": str(data), "HASHWATCH_REQUIRE_AUTH": "true"}
    with hashwatch_serve(env, tmp_path / "serve.log", "--no-worker") as served:
        yield data, served.addresses["serving"], token.splitlines()[-1]


def test_tokens_from_stdin_or_the_environment(server: tuple[Path, str, str]) -> None:
    data, address, token = server
    scan = ["scan", "--server", address, "--json", str(DEMO_LIST / "skimage_rocket.jpg")]
    for done in (
        _hashwatch(data, *scan, "--token", "-", stdin=token + "\n"),
        _hashwatch(data, *scan, HASHWATCH_TOKEN=token),
    ):
        assert json.loads(_ok(done))["verdict"] == "BLOCK"
        assert "warning" not in done.stderr
    refused = _hashwatch(data, *scan)
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr

    show = ["analytics", "show", "--customer", "demo", "--server", address, "--json"]
    _ok(_hashwatch(data, *show, "--token", "-", stdin=token))
    _ok(_hashwatch(data, *show, HASHWATCH_TOKEN=token))

    verified = _ok(_hashwatch(data, "tokens", "verify", "-", stdin=token))
    assert verified.startswith("valid") and token not in verified


def test_the_email_verification_code_from_stdin(tmp_path: Path) -> None:
    data = tmp_path / "var"
    with SmtpSink() as sink:
        smtp = {"HASHWATCH_SMTP_HOST": sink.host, "HASHWATCH_SMTP_PORT": str(sink.port)}
        _ok(_hashwatch(data, "customers", "create", "shop", "--site", "shop.example"))
        _ok(_hashwatch(data, "customers", "email", "set", "shop", "owner@shop.example", **smtp))
        found = re.search(r"Verification code: (\S+)", sink.wait_for(1)[0].message.get_content())
        assert found is not None
    verified = _ok(_hashwatch(data, "customers", "email", "verify", "shop", "-", stdin=found.group(1) + "\n"))
    assert "(verified)" in verified
