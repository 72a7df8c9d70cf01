"""Manifest URLs are fetched through the SSRF guard: real HTTP servers on 127.0.0.1, a real
process pool, a real database (SQLite and PostgreSQL) for the rescan that records a match."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reporting.matches.rescans import RescanStore
from reporting.store import Store
from reporting.testing.httpserver import BackgroundHTTPServer, Reply, Request
from scanner.cli.main import app as cli
from scanner.pipeline import DEFAULT_ALGORITHMS, HashingConfig
from scanner.rescan.fetch import PUBLIC_ONLY, FetchPolicy, Unreadable, read_content
from scanner.rescan.local import LocalEngine
from scanner.rescan.runner import run_rescan
from scanner.rescan.sources import SourceError, manifest_source
from tests.conftest import DEMO_LIST
from tests.reporting.destinations import test_webhook as webhook_tests
from tests.reporting.http.trickle import Trickle
from tests.scanner.rescan.rescan_images import import_demo_list

ROCKET = (DEMO_LIST / "skimage_rocket.jpg").read_bytes()
PRIVATE = FetchPolicy(allow_private=True, timeout_s=5.0)
# The webhook tests' self-signed certificate for "localhost", made visible to pytest here.
localhost_certificate = webhook_tests.localhost_certificate
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class Objects(BackgroundHTTPServer):
    """An object store on 127.0.0.1: paths to replies."""

    def __init__(self, replies: dict[str, Reply], tls_context: ssl.SSLContext | None = None) -> None:
        self.replies = replies
        super().__init__(tls_context)

    def handle(self, request: Request) -> Reply:
        return self.replies.get(request.path, Reply(404))

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.seen]


@pytest.fixture
def objects() -> Iterator[Objects]:
    with Objects({"/rocket.jpg": Reply(200, ROCKET, {"Content-Type": "image/jpeg"})}) as server:
        server.replies["/moved"] = Reply(302, b"", {"Location": f"{server.base_url}/rocket.jpg"})
        yield server


def _unreadable(location: str, policy: FetchPolicy = PUBLIC_ONLY, max_bytes: int = 10**7) -> Unreadable:
    with pytest.raises(Unreadable) as raised:
        read_content(location, max_bytes, policy)
    return raised.value


def test_a_private_address_is_refused_without_the_opt_in_and_fetched_with_it(objects: Objects) -> None:
    for url in (f"{objects.base_url}/rocket.jpg", f"http://localhost:{objects.port}/rocket.jpg"):
        refused = _unreadable(url)
        assert refused.outcome == "unreadable"
        assert "loopback" in refused.reason and "--allow-private-urls" in refused.reason
    assert objects.seen == [], "nothing was sent to a refused address"
    assert read_content(f"{objects.base_url}/rocket.jpg", 10**7, PRIVATE) == ROCKET


def test_a_redirect_is_not_followed_even_to_an_allowed_address(objects: Objects) -> None:
    refused = _unreadable(f"{objects.base_url}/moved", PRIVATE)
    assert "HTTP 302" in refused.reason and "redirects are not followed" in refused.reason
    assert objects.paths == ["/moved"], "the redirect's target was never asked for"


def test_proxies_from_the_environment_are_not_used(objects: Objects, monkeypatch: pytest.MonkeyPatch) -> None:
    with Objects({}) as proxy:
        proxy.handle = lambda request: Reply(200, b"from the proxy")  # type: ignore[method-assign]
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, proxy.base_url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert read_content(f"{objects.base_url}/rocket.jpg", 10**7, PRIVATE) == ROCKET
        assert proxy.seen == []


def test_more_than_the_size_limit_is_not_read(objects: Objects) -> None:
    too_large = _unreadable(f"{objects.base_url}/rocket.jpg", PRIVATE, max_bytes=len(ROCKET) - 1)
    assert too_large.outcome == "too_large"


# Headers long enough that, a byte every 0.1 s, they alone outlast the trickling server's 6 s.
TRICKLED = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 80 + b"\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000


@pytest.mark.parametrize("burst", [TRICKLED.index(b"x"), 0], ids=["body", "headers"])
def test_a_server_that_trickles_is_given_up_on_as_a_whole(burst: int) -> None:
    # Each byte arrives well within the per-read timeout; the fetch as a whole does not.
    with Trickle(TRICKLED, burst=burst) as slow_server:
        started = time.monotonic()
        slow = _unreadable(slow_server.url, FetchPolicy(allow_private=True, timeout_s=1.0))
    assert slow.outcome == "unreadable" and "longer than 1 s" in slow.reason
    assert time.monotonic() - started < 5


def test_an_internal_store_with_its_own_ca_is_trusted_through_ssl_cert_file(
    localhost_certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = localhost_certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(str(cert), str(key))
    with Objects({"/rocket.jpg": Reply(200, ROCKET)}, server_context) as store:
        url = f"https://localhost:{store.port}/rocket.jpg"
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        assert "ConnectError" in _unreadable(url, PRIVATE).reason, "an unknown CA is not trusted"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert read_content(url, 10**7, PRIVATE) == ROCKET


def test_a_rescan_records_a_match_at_a_private_url_only_with_the_opt_in(
    store: Store, objects: Objects, tmp_path: Path
) -> None:
    import_demo_list(store)
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,customer,url\n{objects.base_url}/rocket.jpg,shop,https://shop.example/r.jpg\n")
    source = manifest_source(manifest)
    rescans = RescanStore(store)
    inputs = store.matcher_inputs()
    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=1) as public_only:
        refused = run_rescan(source, public_only, rescans, checkpoint_path=tmp_path / "a.json")
    assert (refused.skipped, refused.matched) == ({"unreadable": 1}, 0)
    assert objects.seen == []
    with LocalEngine(inputs, HashingConfig(), DEFAULT_ALGORITHMS, jobs=1, fetching=PRIVATE) as opted_in:
        found = run_rescan(source, opted_in, rescans, checkpoint_path=tmp_path / "b.json")
    assert (found.matched, found.recorded) == (1, 1)
    [match] = store.matches()
    assert (match.customer_id, match.url) == ("shop", "https://shop.example/r.jpg")


def test_the_command_takes_the_opt_in(
    objects: Objects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("scanner.logs.configure", lambda *args, **kwargs: None)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"path": f"{objects.base_url}/rocket.jpg", "customer": "c"}) + "\n")
    runner = CliRunner()
    where = ["--data-dir", str(tmp_path / "var"), "--json", "-q", "--jobs", "1", "--restart"]
    refused = runner.invoke(cli, ["rescan", str(manifest), *where])
    assert refused.exit_code == 0, refused.stderr
    assert json.loads(refused.stdout)["skipped"] == {"unreadable": 1}
    fetched = runner.invoke(cli, ["rescan", str(manifest), "--allow-private-urls", *where])
    assert fetched.exit_code == 0, fetched.stderr
    assert (json.loads(fetched.stdout)["scanned"], objects.paths) == (1, ["/rocket.jpg"])


@pytest.mark.parametrize(
    "row",
    ['{"path": "/x.jpg", "url": "https://a.example/\\u0001"}', '{"path": "/x.jpg", "customer": "c\\u0085d"}'],
)
def test_a_manifest_row_whose_url_or_customer_cannot_be_recorded_is_refused(tmp_path: Path, row: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"path": "/ok.jpg"}\n' + row + "\n")
    with pytest.raises(SourceError, match=r"m.jsonl:2: (url|customer) contains a (C1 )?control character"):
        manifest_source(manifest)
