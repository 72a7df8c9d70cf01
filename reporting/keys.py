"""The local key: a secret that never sits in the database, for what the database must not be
able to read or forge on its own.

Whoever can read the database (a backup, a replica, a support dump, a stolen SQLite file) must
not thereby hold TOTP seeds, webhook signing secrets or the means to rewrite the audit log
undetected. So those are sealed or authenticated with keys derived from one local key, which
comes from ``HASHWATCH_SECRETS_KEY`` (base64 of 32 random bytes; set it from a secret store in
production) or, without it, from a key file ``secrets.key`` created in the data directory with
mode 0600 so the demo works. Each purpose gets its own key through HKDF, so a key used to seal
secrets is never the key that signs audit anchors.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENV = "HASHWATCH_SECRETS_KEY"
KEY_FILE = "secrets.key"
_NONCE = 12
# Sealed values start with this, so a value stored before sealing existed is told apart.
SEALED_PREFIX = "sealed:v1:"


class LocalKeyError(Exception):
    """The local key is missing, malformed, or does not open what it is asked to."""


class LocalKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise LocalKeyError(f"{ENV} must be 32 bytes (base64), got {len(key)}")
        self._key = key

    @classmethod
    def from_setting(cls, encoded: str, data_dir: Path) -> LocalKey:
        """From ``HASHWATCH_SECRETS_KEY`` when set, else the data directory's key file (created,
        mode 0600, on first use)."""
        if encoded:
            try:
                return cls(base64.b64decode(encoded, validate=True))
            except ValueError as exc:
                raise LocalKeyError(f"{ENV} is not valid base64: {exc}") from None
        path = data_dir / KEY_FILE
        if not path.exists():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first: use theirs
                pass
            else:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(base64.b64encode(os.urandom(32)))
        try:
            return cls(base64.b64decode(path.read_bytes().strip(), validate=True))
        except ValueError as exc:
            raise LocalKeyError(f"{path} does not hold a base64 key: {exc}") from None

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose ("totp", "destination-secrets", "audit-anchor", …)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"hashwatch:{purpose}".encode()
        ).derive(self._key)

    def box(self, purpose: str) -> SecretBox:
        return SecretBox(self.derive(purpose))


class SecretBox:
    """Seals short strings (AES-256-GCM) bound to where they are stored: ``context`` (say
    "destination:12:secret") is the associated data, so a sealed value copied to another row
    does not open there."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, value: str, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, value.encode(), context.encode())
        return SEALED_PREFIX + base64.b64encode(sealed).decode()

    def open(self, stored: str, context: str) -> str:
        if not is_sealed(stored):
            raise LocalKeyError("the value is not sealed")
        raw = base64.b64decode(stored.removeprefix(SEALED_PREFIX), validate=True)
        try:
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()
        except InvalidTag:
            raise LocalKeyError(
                f"a sealed value does not open: wrong {ENV} (or key file), or the value was moved or altered"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED_PREFIX)
