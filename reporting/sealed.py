"""Secrets the database holds, sealed with the local key (``reporting.keys``).

TOTP seeds and destinations' credentials (every field a destination kind declares as a
``Secret``: a webhook's signing ``secret``, a PagerDuty ``routing_key``;
``reporting.destinations.registry.SECRET_FIELDS``) must be read back to be used, so unlike API
tokens and recovery codes they cannot be hashed. They are sealed instead, each bound to its row and field
(``analyst:7:totp_secret``, ``destination:3:secret``), so a sealed value copied to another row
does not open there. A backup, a replica or a stolen SQLite file then holds none of them.

``unlock`` runs when a command opens the database (``scanner.app.open_store``). It first checks
the key against the check value the first process to use a key with this database sealed: a
process holding another key (a second host without ``HASHWATCH_SECRETS_KEY``, which made itself
a fresh key file) stops at start with an error naming the variable, rather than failing every
delivery later. It then seals whatever is still stored in plain text (a database from before
sealing; migrations have no key). Both steps are idempotent. The key is remembered for the
engine, so the stores built on it find it; a value stored in plain text still opens (a process
of the previous version may write one during an upgrade; the next ``unlock`` seals it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from reporting import models
from reporting.db import session_factory
from reporting.destinations.registry import SECRET_FIELDS
from reporting.keys import ENV, KEY_FILE, LocalKey, LocalKeyError, SecretBox, is_sealed

# Standard library logging, as in reporting.db: printed on stderr by every command.
log = logging.getLogger(__name__)

TOTP = "totp"
DESTINATIONS = "destination-secrets"
_CHECK = "key-check"
_CHECK_VALUE = "hashwatch secrets key"

_keys: WeakKeyDictionary[Engine, LocalKey] = WeakKeyDictionary()


def unlock(engine: Engine, key: LocalKey) -> None:
    """Check ``key`` against the database, seal what is still plain, and remember the key for
    ``engine``. ``LocalKeyError`` (naming ``HASHWATCH_SECRETS_KEY``) when the key is not the
    database's."""
    _check(engine, key)
    analysts, destinations = _seal_plaintext(engine, key)
    if analysts or destinations:
        log.warning(
            "secrets were stored in plain text; sealed them with the local key "
            "(%d analysts' TOTP secrets, %d destinations)",
            analysts,
            destinations,
        )
    _keys[engine] = key


def key_for(engine: Engine) -> LocalKey:
    try:
        return _keys[engine]
    except KeyError:
        raise LocalKeyError(
            f"this database was opened without its secrets key ({ENV}); open it with open_store"
        ) from None


def _check(engine: Engine, key: LocalKey) -> None:
    box = key.box(_CHECK)
    sessions = session_factory(engine)
    for _ in range(2):
        with sessions() as session:
            stored = session.get(models.SecretsKeyCheck, 1)
        if stored is not None:
            try:
                box.open(stored.sealed, _CHECK)
            except LocalKeyError:
                raise LocalKeyError(
                    f"{ENV} is not the key this database's secrets are sealed with (set on "
                    f"{stored.created_at:%Y-%m-%d}): set {ENV} to that key, or copy {KEY_FILE} from "
                    "the data directory of the host that first used it"
                ) from None
            return
        try:
            with sessions.begin() as session:
                session.add(models.SecretsKeyCheck(id=1, sealed=box.seal(_CHECK_VALUE, _CHECK)))
            return
        except IntegrityError:  # another process wrote its check first: compare with that one
            continue
    raise LocalKeyError("the secrets key check could not be read or written")  # pragma: no cover


def _seal_plaintext(engine: Engine, key: LocalKey) -> tuple[int, int]:
    totp, destinations = key.box(TOTP), key.box(DESTINATIONS)
    analysts_sealed = destinations_sealed = 0
    with session_factory(engine).begin() as session:
        for analyst in session.scalars(select(models.Analyst)):
            if not is_sealed(analyst.totp_secret):
                analyst.totp_secret = totp.seal(analyst.totp_secret, totp_context(analyst.id))
                analysts_sealed += 1
        for destination in session.scalars(select(models.Destination)):
            if _plain_fields(destination.config):
                destination.config = _seal(destinations, destination.id, destination.config)
                destinations_sealed += 1
    return analysts_sealed, destinations_sealed


def totp_context(analyst_id: int) -> str:
    return f"analyst:{analyst_id}:totp_secret"


def destination_context(destination_id: int, field: str) -> str:
    return f"destination:{destination_id}:{field}"


def _plain_fields(config: Any) -> list[str]:
    if not isinstance(config, Mapping):
        return []
    return [k for k in SECRET_FIELDS if isinstance(config.get(k), str) and not is_sealed(config[k])]


def _seal(box: SecretBox, destination_id: int, config: Mapping[str, Any]) -> dict[str, Any]:
    plain = _plain_fields(config)
    return {
        k: box.seal(v, destination_context(destination_id, k)) if k in plain else v for k, v in config.items()
    }


class SealedSecrets:
    """Seals and opens one database's secrets. The key is the one given, else the one
    ``unlock`` remembered for the engine, looked up only when something is to be sealed or
    opened (an email destination needs none)."""

    def __init__(self, engine: Engine, key: LocalKey | None = None) -> None:
        self._engine = engine
        self._key = key

    def _box(self, purpose: str) -> SecretBox:
        return (self._key or key_for(self._engine)).box(purpose)

    def seal_totp(self, analyst_id: int, seed: str) -> str:
        return self._box(TOTP).seal(seed, totp_context(analyst_id))

    def open_totp(self, analyst_id: int, stored: str) -> str:
        if not is_sealed(stored):
            return stored
        return self._box(TOTP).open(stored, totp_context(analyst_id))

    @staticmethod
    def unsealed_placeholder(config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with its secrets emptied: what a new row is inserted with, so the plain
        value never reaches the database (nor PostgreSQL's write-ahead log) before its row id,
        which the sealed value is bound to, exists."""
        return {k: "" if k in SECRET_FIELDS and isinstance(v, str) else v for k, v in config.items()}

    def seal_config(self, destination_id: int, config: Mapping[str, Any]) -> dict[str, Any]:
        if not _plain_fields(config):
            return dict(config)
        return _seal(self._box(DESTINATIONS), destination_id, config)

    def open_config(self, destination_id: int, config: Mapping[str, Any]) -> Any:
        """``config`` with its sealed values opened; anything but a JSON object is returned as it
        is, for ``build_destination`` to refuse."""
        if not isinstance(config, Mapping):
            return config
        sealed = [k for k in SECRET_FIELDS if isinstance(config.get(k), str) and is_sealed(config[k])]
        if not sealed:
            return dict(config)
        box = self._box(DESTINATIONS)
        try:
            return {
                k: box.open(v, destination_context(destination_id, k)) if k in sealed else v
                for k, v in config.items()
            }
        except LocalKeyError as exc:
            raise LocalKeyError(f"destination {destination_id}: {exc}") from None
