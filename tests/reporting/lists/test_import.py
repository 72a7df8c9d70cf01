"""Imports: one transaction, duplicates collapse (within the file and against the list, across
batches), re-imports are idempotent, each import is one list version and one audit record."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from index.hashes import Algorithm, Hash
from reporting import models
from reporting.audit import AuditLog
from reporting.db import session_factory
from reporting.lists import store as store_module
from reporting.store import NewEntry, Store

rng = random.Random(3)


def _pdq() -> Hash:
    return Hash(Algorithm.PDQ, rng.getrandbits(256).to_bytes(32, "big"))


def test_duplicates_collapse_across_batches_and_reimports_are_idempotent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "_IMPORT_BATCH", 7)
    first = [_pdq() for _ in range(30)]
    md5 = Hash.from_hex("md5", "511130d2072cc744a1fa5015bc23557a")
    result = store.import_entries("l", [NewEntry(h) for h in [*first, first[3], md5, first[29]]])
    assert (result.added, result.duplicates) == (31, 2)
    more = [_pdq() for _ in range(10)]
    result = store.import_entries("l", [NewEntry(h) for h in [*more, *first, md5]], actor="cli:a")
    assert (result.added, result.duplicates) == (10, 31)
    result = store.import_entries("l", [NewEntry(h) for h in [*more, *first]])
    assert (result.added, result.duplicates) == (0, 40)
    with session_factory(store.engine)() as session:
        assert session.scalar(select(func.count()).select_from(models.ListEntry)) == 41
        assert session.scalar(select(models.HashList.version)) == 3
        versions = sorted(set(session.scalars(select(models.ListEntry.changed_version))))
        assert versions == [1, 2]
    records = [r for r in AuditLog(store.engine).entries(limit=10).entries if r.action == "list.import"]
    assert [(r.details["added"], r.details["duplicates"]) for r in reversed(records)] == [
        (31, 2),
        (10, 31),
        (0, 40),
    ]


def test_a_failed_import_adds_nothing(store: Store) -> None:
    def entries() -> object:
        yield NewEntry(_pdq())
        raise OSError("the file went away")

    with pytest.raises(OSError):
        store.import_entries("l", entries())  # type: ignore[arg-type]
    assert store.lists() == []
