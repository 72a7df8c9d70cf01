"""Preserved evidence: the matched bytes, encrypted at rest with AES-256-GCM.

The key comes from ``HASHWATCH_EVIDENCE_KEY`` (base64, 32 bytes). Without one, a key file is
created in the data directory (mode 0600) so the demo works; production sets the variable from a
secret store, and the key never sits in the database next to the ciphertext. Each record is
bound to its match id through the GCM associated data, so ciphertext moved between rows fails.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE = 12


class EvidenceKeyError(Exception):
    pass


class EvidenceBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise EvidenceKeyError(f"the evidence key must be 32 bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"hashwatch-evidence-key:" + key).hexdigest()[:16]

    @classmethod
    def from_setting(cls, encoded: str, data_dir: Path) -> EvidenceBox:
        if encoded:
            try:
                return cls(base64.b64decode(encoded, validate=True))
            except ValueError as exc:
                raise EvidenceKeyError(f"HASHWATCH_EVIDENCE_KEY is not valid base64: {exc}") from None
        path = data_dir / "evidence.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(base64.b64encode(os.urandom(32)))
        return cls(base64.b64decode(path.read_bytes().strip(), validate=True))

    def seal(self, match_id: int, content: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, content, _aad(match_id))

    def open(self, match_id: int, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(match_id))
        except InvalidTag:
            raise EvidenceKeyError(
                "evidence does not decrypt: wrong key, or the record was altered"
            ) from None


def _aad(match_id: int) -> bytes:
    return f"hashwatch-evidence:{match_id}".encode()
