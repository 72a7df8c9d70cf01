"""Following list changes incrementally, checked against a matcher rebuilt from scratch."""

from __future__ import annotations

import random
from pathlib import Path

from typer.testing import CliRunner

from index.hashes import Algorithm, Hash
from index.matcher import Matcher
from reporting.lists.changes import ListAdmin, apply_changes, changes_since
from reporting.store import NewEntry, Store
from scanner.cli.main import app as cli

rng = random.Random(11)


def _pdq() -> Hash:
    return Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))


def _near(value: Hash, bits: int) -> Hash:
    number = int.from_bytes(value.value, "big")
    for position in rng.sample(range(256), bits):
        number ^= 1 << position
    return Hash(Algorithm.PDQ, number.to_bytes(32, "big"))


def _same(followed: Matcher, store: Store, queries: list[Hash]) -> None:
    oracle = Matcher(store.matcher_inputs())
    assert followed.sizes() == oracle.sizes()
    for query in queries:
        assert [(h.list_name, h.entry_id, h.distance) for h in followed.match([query])] == [
            (h.list_name, h.entry_id, h.distance) for h in oracle.match([query])
        ]


def _sync(matcher: Matcher, store: Store) -> tuple[int, int]:
    return apply_changes(matcher, changes_since(store.engine, matcher.configs()))


def test_incremental_updates_equal_a_rebuild_at_every_step(store: Store) -> None:
    base = [_pdq() for _ in range(50)]
    md5 = Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")
    queries = [_near(h, 5) for h in base] + [md5]
    store.import_entries("a", [NewEntry(h) for h in base[:20]] + [NewEntry(md5)])
    matcher = Matcher()
    assert _sync(matcher, store) == (21, 0)
    _same(matcher, store, queries)

    store.import_entries("a", [NewEntry(h) for h in base[20:35]])
    store.import_entries("b", [NewEntry(h) for h in base[30:]])
    assert _sync(matcher, store) == (15 + 20, 0)
    _same(matcher, store, queries)
    assert _sync(matcher, store) == (0, 0)

    admin = ListAdmin(store.engine)
    [entries] = [e for c, e in store.matcher_inputs() if c.name == "a"]
    ids = [entry_id for entry_id, _ in entries[:5]]
    admin.set_entries("a", "disabled", ids)
    admin.set_entries("a", "removed", [], [md5])
    assert _sync(matcher, store) == (0, 6)
    _same(matcher, store, queries)
    assert not any(h.algorithm is Algorithm.MD5 for h in matcher.match([md5]))

    admin.set_entries("a", "active", ids[:2])
    store.ensure_list("b", thresholds={"pdq": 4})
    _sync(matcher, store)
    _same(matcher, store, queries)

    admin.set_enabled("b", False)
    _sync(matcher, store)
    assert set(matcher.sizes()) == {"a"}
    _same(matcher, store, queries)


def test_cli_disables_enables_and_removes(tmp_path: Path) -> None:
    runner = CliRunner()
    where = ["--data-dir", str(tmp_path / "var")]
    listed = tmp_path / "l.md5"
    listed.write_text("511130d2072cc744a1fa5015bc23557a\n" + "0" * 32 + "\n")
    assert (
        runner.invoke(
            cli, ["lists", "import", str(listed), "--list", "l", "--format", "md5", *where]
        ).exit_code
        == 0
    )
    result = runner.invoke(cli, ["lists", "disable", "l", "--hash", "md5:" + "0" * 32, *where])
    assert result.exit_code == 0, result.output
    assert "1 entries now disabled" in result.stdout
    result = runner.invoke(cli, ["lists", "remove", "l", "--entry", "1", *where])
    assert "1 entries now removed" in result.stdout
    result = runner.invoke(cli, ["lists", "list", *where])
    assert "empty" in result.stdout
    result = runner.invoke(cli, ["lists", "enable", "l", "--entry", "2", *where])
    assert "1 entries now active" in result.stdout
    result = runner.invoke(cli, ["lists", "disable", "l", *where])
    assert "list 'l' disabled" in result.stdout
    assert "disabled" in runner.invoke(cli, ["lists", "list", *where]).stdout
    result = runner.invoke(cli, ["lists", "remove", "l", "--entry", "99", *where])
    assert result.exit_code == 2 and "not on list" in result.stderr
    result = runner.invoke(cli, ["lists", "remove", "l", "--hash", "md5:zz", *where])
    assert result.exit_code == 2 and "ALGORITHM:HEX" in result.stderr


def test_list_changes_are_in_the_audit_log(store: Store) -> None:
    from reporting.audit import AuditLog, verify

    store.import_entries("a", [NewEntry(_pdq())], actor="cli:alice")
    store.set_policy("a", {"report": "immediately"}, actor="cli:bob")
    ListAdmin(store.engine).set_entries("a", "removed", [1], actor="cli:carol")
    ListAdmin(store.engine).set_enabled("a", False, actor="cli:dave")
    records = AuditLog(store.engine).entries(limit=10).entries
    assert [(r.actor, r.action, r.subject) for r in reversed(records)] == [
        ("cli:alice", "list.import", "a"),
        ("cli:bob", "list.policy", "a"),
        ("cli:carol", "list.entries", "a"),
        ("cli:dave", "list.disable", "a"),
    ]
    assert verify(store.engine).ok


def test_a_list_held_at_a_version_the_database_has_not_reached_is_reloaded_whole(store: Store) -> None:
    from dataclasses import replace

    kept, dropped = _pdq(), _pdq()
    store.import_entries("a", [NewEntry(kept)])
    matcher = Matcher()
    _sync(matcher, store)
    [config] = matcher.configs().values()
    # Held from elsewhere (a snapshot of another database, a restored backup): no delta leads
    # back, so the whole list is reloaded, and an entry the database does not hold goes.
    matcher.update_list(replace(config, version=config.version + 5), [(99, dropped)], [])
    changes = changes_since(store.engine, matcher.configs())
    assert [d.full for d in changes.deltas] == [True]
    apply_changes(matcher, changes)
    assert matcher.match([dropped]) == []
    assert [h.entry_id for h in matcher.match([kept])] == [1]
    assert matcher.configs()[config.list_id].version == config.version
