"""What a real ``hashwatch`` leaves in its data directory: nothing another local user can read
(directories 0700, files 0600, an older, looser directory tightened), and secrets that only the
right local key opens: a command started with another key, or with none where the database
already has one, stops at once with an error naming ``HASHWATCH_SECRETS_KEY`` and loses
nothing."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from reporting import models
from reporting.db import make_engine
from reporting.destinations.admin import DestinationAdmin
from reporting.keys import KEY_FILE, LocalKey
from reporting.settings import ReportingSettings
from reporting.testing.webhook_receiver import WebhookReceiver
from tests.conftest import DEMO_LIST, DEMO_UNLISTED
from tests.scanner.serving import hashwatch_serve

SECRET = "whsec-0123456789abcdef-at-rest"


def _env(data: Path, secrets_key: str = "") -> dict[str, str]:
    """The environment of a command on ``data``; without ``secrets_key``, the local key is the
    key file in the data directory, as in a deployment without ``HASHWATCH_SECRETS_KEY``."""
    # Empty is unset: no database URL (SQLite in the data dir), no key (the key file).
    return {
        **os.environ,
        "HASHWATCH_DATA_DIR": str(data),
        "HASHWATCH_LOG_JSON": "true",
        "HASHWATCH_DATABASE_URL": "",
        "HASHWATCH_SECRETS_KEY": secrets_key,
    }


def _hashwatch(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanner", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        # The usual umask, which leaves new files readable by everyone. Popen's own umask, not a
        # preexec_fn: that forces fork() in this threaded process, and gRPC's fork handlers then
        # restart its poller in the child, which aborts when the child closes its descriptors.
        umask=0o022,
    )


def _modes(root: Path) -> dict[str, int]:
    """Every path under ``root`` (directories ending in "/") and its mode."""
    found = {"./": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        name = str(path.relative_to(root)) + ("/" if path.is_dir() else "")
        found[name] = stat.S_IMODE(path.stat().st_mode)
    return found


def _serve_once(env: dict[str, str], data: Path, log: Path) -> dict[str, int]:
    """Start ``hashwatch serve``, scan a listed and an unlisted image with ``hashwatch scan``, stop;
    the modes in ``data`` while it served (SQLite's -wal and -shm go when it stops)."""
    with hashwatch_serve(env, log, "--web-port", "0", umask=0o022) as served:
        scanned = _hashwatch(
            env,
            "scan",
            "--server",
            served.addresses["serving"],
            str(DEMO_LIST / "skimage_rocket.jpg"),
            str(DEMO_UNLISTED / "skimage_camera.png"),
        )
        assert scanned.returncode == 0 and "BLOCK" in scanned.stdout, scanned.stderr
        serving = _modes(data)
    assert served.process.returncode == 0, log.read_text()
    return serving


def test_everything_hashwatch_writes_in_its_data_dir_is_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = _env(data)
    for args in (
        ("lists", "import", str(DEMO_LIST), "--list", "demo", "--format", "images"),
        ("index", "build"),
        ("tokens", "create", "--scope", "scan"),
    ):
        done = _hashwatch(env, *args)
        assert done.returncode == 0, done.stderr
    serving = _serve_once(env, data, tmp_path / "serve.log")

    for modes in (serving, _modes(data)):
        # The database, both keys, the index snapshots, the journal's directory.
        for name in ("hashwatch.db", "evidence.key", KEY_FILE, "index/", "journal/"):
            assert name in modes, sorted(modes)
        assert any(name.startswith("index/") and name.endswith(".data") for name in modes), sorted(modes)
        loose = {
            name: oct(mode)
            for name, mode in modes.items()
            if mode != (0o700 if name.endswith("/") else 0o600)
        }
        assert loose == {}
    assert "hashwatch.db-wal" in serving and "hashwatch.db-shm" in serving, sorted(serving)


def test_a_data_dir_left_open_by_an_earlier_version_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    env = _env(data)
    assert _hashwatch(env, "lists", "list").returncode == 0
    # As an earlier version left them.
    os.chmod(data, 0o755)
    os.chmod(data / "hashwatch.db", 0o644)

    listed = _hashwatch(env, "lists", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "hashwatch.db").stat().st_mode) == 0o600
    # Said on stderr; the JSON on stdout stays clean.
    assert "was open to other users" in listed.stderr and str(data) in listed.stderr
    assert all(json.loads(line) is not None for line in listed.stdout.splitlines())


def test_another_key_or_none_is_refused_at_start_and_the_delivery_waits_for_the_right_one(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    env = _env(data)
    with WebhookReceiver(secret=SECRET) as receiver:
        added = _hashwatch(
            env,
            "destinations",
            "add",
            "--customer",
            "shop",
            "--kind",
            "webhook",
            "--url",
            receiver.url,
            "--allow-private",
            "--secret",
            "-",
            stdin=SECRET + "\n",
        )
        assert added.returncode == 0, added.stderr
        key = LocalKey.from_setting("", data)
        engine = make_engine(f"sqlite:///{data / 'hashwatch.db'}")
        try:
            [destination_id] = [v.id for v in DestinationAdmin(engine, ReportingSettings(), key).all()]
            DestinationAdmin(engine, ReportingSettings(), key).queue_test(destination_id)

            other = base64.b64encode(os.urandom(32)).decode()
            for refused_env in (_env(data, secrets_key=other), _env(data)):
                if not refused_env["HASHWATCH_SECRETS_KEY"]:
                    # A host without the variable, whose data dir has no key file: it makes a
                    # fresh one, which is not the database's.
                    (data / KEY_FILE).rename(tmp_path / "kept.key")
                for args in (("worker", "--once"), ("serve", "--port", "0", "--metrics-port", "0")):
                    run = _hashwatch(refused_env, *args)
                    assert run.returncode == 2, (args, run.stdout, run.stderr)
                    assert "HASHWATCH_SECRETS_KEY" in run.stderr and "Traceback" not in run.stderr
            (tmp_path / "kept.key").replace(data / KEY_FILE)
            with engine.connect() as conn:
                [(state, attempts)] = conn.execute(select(models.Delivery.state, models.Delivery.attempts))
            assert (state, attempts) == ("pending", 0)  # nothing was tried, nothing lost

            delivered = _hashwatch(env, "worker", "--once")
            assert delivered.returncode == 0, delivered.stderr
            assert len(receiver.wait_for(1)) == 1 and receiver.valid_signatures()
        finally:
            engine.dispose()
