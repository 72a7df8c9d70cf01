"""What makes the audit log more than a hash chain: a key the database does not hold, and an
anchor kept outside it.

The chain shows an edit, but whoever can write the database can rebuild it from any record on,
or delete the newest records and move the head back; nothing in the database can show that.
So:

* every record and the head carry an HMAC-SHA256 under the audit key
  (``LocalKey.derive("audit-anchor")``: from ``HASHWATCH_SECRETS_KEY``, or the data directory's
  key file). Without the key nobody can write a record, rebuild the chain or move the head to
  a record that was never the head; verify names the first record that does not carry the MAC.
* every process that appends writes the newest record it committed (``id:hash``) to the
  anchor file in its data directory, after the commit, and only ever forward. An old head
  that is replayed (its MAC was valid once) is older than the anchor, and verify names the
  records that are missing.

``reporting.audit.seal_engine(engine, seal)`` is called once where the engine is made
(``scanner.app.open_store``); every append made through that engine is then sealed.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import structlog
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

log = structlog.get_logger(__name__)

ANCHOR_FILE = "audit.anchor"
PURPOSE = "audit-anchor"
_ANCHOR = re.compile(r"([0-9]+):([0-9a-f]{64})")
_PENDING = "hashwatch.audit.pending_anchor"
_LISTENING = "hashwatch.audit.listening"


class AnchorError(Exception):
    """An anchor (file or ``--anchor`` text) that cannot be read."""


@dataclass(frozen=True)
class Anchor:
    """A record known, from outside the database, to have been written: its id and hash."""

    id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        found = _ANCHOR.fullmatch(text.strip().lower())
        if found is None:
            raise AnchorError(f"an anchor reads ID:HASH (64 hex digits), not {text.strip()[:80]!r}")
        return cls(int(found[1]), found[2])

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"


def read_anchor(path: Path) -> Anchor | None:
    """The anchor in ``path``; None when there is no such file."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AnchorError(f"{path} cannot be read: {exc}") from None
    try:
        return Anchor.parse(text)
    except AnchorError as exc:
        raise AnchorError(f"{path}: {exc}") from None


class AuditSeal:
    def __init__(self, key: bytes, anchor_path: Path | None = None) -> None:
        if len(key) != 32:
            raise ValueError("the audit key is 32 bytes")
        self._key = key
        self.anchor_path = anchor_path
        self._noticed = False

    # A record's MAC and the head's differ in their first line, so a record's MAC can never
    # stand in for the head at that record (which would let the tail be cut off).
    def record_mac(self, record_hash: str) -> str:
        return self._mac(f"record\n{record_hash}")

    def head_mac(self, last_id: int, last_hash: str) -> str:
        return self._mac(f"head\n{last_id}\n{last_hash}")

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def matches(expected: str, stored: str | None) -> bool:
        return stored is not None and hmac.compare_digest(expected.encode(), stored.encode())

    def notice_head(self, last_id: int, last_hash: str, mac: str | None) -> None:
        """Log, once, that the head this process appends to was sealed with another key (or
        altered). Not fatal: an append must not fail, and scanning must go on."""
        if self._noticed or mac is None or self.matches(self.head_mac(last_id, last_hash), mac):
            return
        self._noticed = True
        log.error(
            "audit key mismatch: the audit log's head was sealed with another key, or altered",
            hint="servers sharing a database need one HASHWATCH_SECRETS_KEY; run `hashwatch audit verify`",
        )

    def anchor(self) -> Anchor | None:
        return read_anchor(self.anchor_path) if self.anchor_path else None

    def advance(self, anchor: Anchor) -> None:
        """Write ``anchor`` to the anchor file unless it already names a newer record. Called
        after the commit; never raises (the action it records has committed)."""
        path = self.anchor_path
        if path is None:
            return
        try:
            with open(path.with_name(path.name + ".lock"), "a") as lock:
                # Processes sharing the data directory (server, CLI, web) take turns.
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    current = read_anchor(path)
                except AnchorError as exc:
                    log.warning("replacing an unreadable audit anchor", problem=str(exc))
                    current = None
                if current is not None and current.id >= anchor.id:
                    return
                temporary = path.with_name(path.name + ".tmp")
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                    handle.write(f"{anchor}\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, path)
        except OSError as exc:
            log.warning("could not write the audit anchor", path=str(path), error=str(exc))


_SEALS: WeakKeyDictionary[Engine, AuditSeal] = WeakKeyDictionary()


def use_seal(engine: Engine, seal: AuditSeal) -> None:
    """Seal every audit record appended through ``engine``."""
    _SEALS[engine] = seal


def seal_of(bind: Engine | Connection | Any) -> AuditSeal | None:
    engine = getattr(bind, "engine", None)
    return _SEALS.get(engine) if isinstance(engine, Engine) else None


def anchor_after_commit(session: Session, seal: AuditSeal, anchor: Anchor) -> None:
    """Advance ``seal``'s anchor to ``anchor`` once ``session``'s transaction commits; forget it
    if the transaction (or the savepoint it was made in) rolls back."""
    session.info[_PENDING] = (seal, anchor)
    if session.info.get(_LISTENING):
        return
    session.info[_LISTENING] = True
    event.listen(session, "after_commit", _committed)
    event.listen(session, "after_soft_rollback", _rolled_back)


def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending is not None:
        seal, anchor = pending
        seal.advance(anchor)


def _rolled_back(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING, None)
