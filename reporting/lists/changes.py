"""Following list changes incrementally, so a running server updates its index without a rebuild.

Every change to a list (an import, entries disabled, removed, flagged or restored, new
thresholds, a new policy, the list disabled) takes the list's next version while holding its row
lock, and stamps the entries it touched with it. A server that knows version ``v`` of a list asks for the
entries with ``changed_version > v``: exactly what changed, in one indexed query, whatever the
size of the list. New thresholds rebuild that list's index; any other change to the list itself
(its policy, review band, holds) only replaces its config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from index.hashes import Algorithm, Hash
from index.matcher import Combine, EntryArrays, ListConfig, ListKind, Matcher
from index.policy import ActionPolicy
from reporting import audit, models
from reporting.db import session_factory

ENTRY_STATES = ("active", "disabled", "removed", "flagged")
# Rows per round trip of a full load: one chunk of hex strings is the only per-entry Python
# state alive at a time.
LOAD_CHUNK = 65_536


def bump_version(session: Session, list_id: int) -> int:
    """Take the list's next version (locks the list row until the transaction ends)."""
    session.execute(
        update(models.HashList)
        .where(models.HashList.id == list_id)
        .values(version=models.HashList.version + 1, updated_at=models.utcnow())
        .execution_options(synchronize_session=False)
    )
    version = session.scalar(select(models.HashList.version).where(models.HashList.id == list_id))
    assert version is not None
    return int(version)


def list_config(row: models.HashList, held: frozenset[int] = frozenset()) -> ListConfig:
    """The list as the matcher and the scan's decision step see it, its whole action policy
    included (a policy change takes a new list version: ``reporting.lists.policy.set_policy``)."""
    return ListConfig(
        row.id,
        row.name,
        {Algorithm(k): int(v) for k, v in row.thresholds.items()},
        row.version,
        review={Algorithm(k): int(v) for k, v in (row.review or {}).items()},
        combine=Combine(row.combine or Combine.ANY),
        kind=ListKind(row.kind or ListKind.MATCH),
        held=held,
        policy=ActionPolicy.from_json(row.policy or {}),
    )


def held_entries(session: Session) -> dict[int, frozenset[int]]:
    """Per list, the entries flood protection holds (``models.EntryHold``)."""
    held: dict[int, set[int]] = {}
    for list_id, entry_id in session.execute(
        select(models.EntryHold.list_id, models.EntryHold.entry_id).where(models.EntryHold.state == "held")
    ):
        held.setdefault(list_id, set()).add(entry_id)
    return {list_id: frozenset(ids) for list_id, ids in held.items()}


@dataclass(frozen=True)
class EntryChange:
    entry_id: int
    hash: Hash
    active: bool


@dataclass(frozen=True)
class ListDelta:
    config: ListConfig
    # True: ``arrays`` holds every active entry and the list's index is rebuilt from them;
    # False: ``changes`` holds the entries changed since the held version.
    full: bool
    changes: tuple[EntryChange, ...] = ()
    arrays: EntryArrays = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    deltas: tuple[ListDelta, ...]
    # Lists the server holds that are now disabled or gone.
    dropped: tuple[int, ...]


def changes_since(engine: Engine, known: Mapping[int, ListConfig]) -> Changes:
    """What changed in the enabled lists since the versions in ``known``."""
    deltas: list[ListDelta] = []
    with session_factory(engine)() as session:
        rows = list(session.scalars(select(models.HashList).where(models.HashList.enabled.is_(True))))
        holds = held_entries(session)
        for row in rows:
            config = list_config(row, holds.get(row.id, frozenset()))
            held = known.get(row.id)
            if held is not None and held.version == config.version:
                if held != config:
                    # Same entries, other matching policy (a server started from a snapshot,
                    # whose manifest keeps only thresholds): the config alone is replaced.
                    deltas.append(ListDelta(config, False))
                continue
            full = (
                held is None
                or dict(held.thresholds) != dict(config.thresholds)
                or held.name != config.name
                # Held from a newer state than the database's (a snapshot of another database,
                # or a restored backup): no delta leads back from there.
                or held.version > config.version
            )
            if full:
                deltas.append(ListDelta(config, True, arrays=load_active(session, row.id)))
                continue
            assert held is not None
            query = select(
                models.ListEntry.id,
                models.ListEntry.algorithm,
                models.ListEntry.hash_hex,
                models.ListEntry.status,
            ).where(models.ListEntry.list_id == row.id, models.ListEntry.changed_version > held.version)
            changes = tuple(
                EntryChange(entry_id, Hash.from_hex(algorithm, hex_value), status == "active")
                for entry_id, algorithm, hex_value, status in session.execute(query)
            )
            deltas.append(ListDelta(config, False, changes))
        enabled = {row.id for row in rows}
    return Changes(tuple(deltas), tuple(sorted(set(known) - enabled)))


def load_active(session: Session, list_id: int, chunk: int = LOAD_CHUNK) -> EntryArrays:
    """A list's active entries as arrays of ids and codes, streamed in chunks (a server-side
    cursor on PostgreSQL): hex is decoded a chunk at a time, and no ``Hash`` is made per entry,
    which at 10 M entries is the difference between seconds and minutes (and GBs of objects)."""
    parts: dict[str, tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.uint8]]]] = {}
    result = session.execute(
        select(models.ListEntry.algorithm, models.ListEntry.id, models.ListEntry.hash_hex)
        .where(models.ListEntry.list_id == list_id, models.ListEntry.status == "active")
        .order_by(models.ListEntry.id)
        .execution_options(yield_per=chunk)
    )
    for rows in result.partitions():
        by_algorithm: dict[str, tuple[list[int], list[str]]] = {}
        for algorithm, entry_id, hex_value in rows:
            ids, hexes = by_algorithm.setdefault(algorithm, ([], []))
            ids.append(entry_id)
            hexes.append(hex_value)
        for algorithm, (ids, hexes) in by_algorithm.items():
            width = Algorithm(algorithm).bits // 8
            codes = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, width)
            if len(codes) != len(ids):
                raise ValueError(f"list {list_id}: a stored {algorithm} hash has the wrong length")
            id_parts, code_parts = parts.setdefault(algorithm, ([], []))
            id_parts.append(np.asarray(ids, dtype=np.int64))
            code_parts.append(codes)
    return {
        Algorithm(algorithm): (np.concatenate(id_parts), np.concatenate(code_parts))
        for algorithm, (id_parts, code_parts) in parts.items()
    }


def set_entry_status(session: Session, list_id: int, entry_ids: Sequence[int], status: str) -> int:
    """Change entries' status inside the caller's transaction, as one list version. Entries
    are never deleted: "removed" is a tombstone."""
    if status not in ENTRY_STATES:
        raise ValueError(f"status must be one of {', '.join(ENTRY_STATES)}")
    version = bump_version(session, list_id)
    result = session.execute(
        update(models.ListEntry)
        .where(models.ListEntry.list_id == list_id, models.ListEntry.id.in_(list(entry_ids)))
        .values(status=status, changed_version=version)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


class ListAdmin:
    """Disabling and removing entries and lists, by name, for the CLI and the API."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def set_entries(
        self,
        list_name: str,
        status: str,
        entry_ids: Sequence[int] = (),
        hashes: Sequence[Hash] = (),
        actor: str = "system",
    ) -> int:
        with self._sessions.begin() as session:
            list_id = self._list_id(session, list_name)
            ids = list(entry_ids)
            for value in hashes:
                found = session.scalar(
                    select(models.ListEntry.id).where(
                        models.ListEntry.list_id == list_id,
                        models.ListEntry.algorithm == str(value.algorithm),
                        models.ListEntry.hash_hex == value.hex,
                    )
                )
                if found is None:
                    raise LookupError(f"{value} is not on list {list_name!r}")
                ids.append(found)
            known = set(
                session.scalars(
                    select(models.ListEntry.id).where(
                        models.ListEntry.list_id == list_id, models.ListEntry.id.in_(ids)
                    )
                )
            )
            missing = sorted(set(ids) - known)
            if missing:
                raise LookupError(f"entries {missing} are not on list {list_name!r}")
            audit.record(
                session, actor, "list.entries", list_name, {"status": status, "entry_ids": sorted(ids)}
            )
            return set_entry_status(session, list_id, ids, status)

    def set_enabled(self, list_name: str, enabled: bool, actor: str = "system") -> None:
        with self._sessions.begin() as session:
            list_id = self._list_id(session, list_name)
            audit.record(session, actor, "list.enable" if enabled else "list.disable", list_name)
            bump_version(session, list_id)
            session.execute(
                update(models.HashList)
                .where(models.HashList.id == list_id)
                .values(enabled=enabled)
                .execution_options(synchronize_session=False)
            )

    @staticmethod
    def _list_id(session: Session, list_name: str) -> int:
        list_id = session.scalar(select(models.HashList.id).where(models.HashList.name == list_name))
        if list_id is None:
            raise LookupError(f"no list named {list_name!r}")
        return int(list_id)


def apply_changes(matcher: Matcher, changes: Changes) -> tuple[int, int]:
    """Bring ``matcher`` up to date; returns (entries added or replaced, entries removed)."""
    added = removed = 0
    for delta in changes.deltas:
        if delta.full:
            matcher.replace_list_arrays(delta.config, delta.arrays)
            added += sum(len(ids) for ids, _ in delta.arrays.values())
            continue
        active = [(c.entry_id, c.hash) for c in delta.changes if c.active]
        gone = [c.entry_id for c in delta.changes if not c.active]
        matcher.update_list(delta.config, active, gone)
        added, removed = added + len(active), removed + len(gone)
    for list_id in changes.dropped:
        matcher.drop_list(list_id)
    return added, removed
