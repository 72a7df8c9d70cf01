"""The local key: derived per purpose, key file private, sealed values bound to their place."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from reporting.keys import KEY_FILE, LocalKey, LocalKeyError, is_sealed


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = LocalKey.from_setting("", data_dir)
    mode = stat.S_IMODE(os.stat(data_dir / KEY_FILE).st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    again = LocalKey.from_setting("", data_dir)
    assert first.derive("x") == again.derive("x")


def test_purposes_get_different_keys() -> None:
    key = LocalKey(os.urandom(32))
    assert key.derive("totp") != key.derive("audit-anchor")
    assert len(key.derive("totp")) == 32


def test_sealed_value_opens_only_in_its_context_and_with_its_key() -> None:
    key = LocalKey(os.urandom(32))
    box = key.box("destination-secrets")
    sealed = box.seal("s3cret-value", "destination:1:secret")
    assert is_sealed(sealed) and "s3cret" not in sealed
    assert box.open(sealed, "destination:1:secret") == "s3cret-value"
    with pytest.raises(LocalKeyError):
        box.open(sealed, "destination:2:secret")
    with pytest.raises(LocalKeyError):
        LocalKey(os.urandom(32)).box("destination-secrets").open(sealed, "destination:1:secret")
    with pytest.raises(LocalKeyError):
        key.box("totp").open(sealed, "destination:1:secret")


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(LocalKeyError, match="HASHWATCH_SECRETS_KEY"):
        LocalKey.from_setting("not base64!", tmp_path)
    with pytest.raises(LocalKeyError, match="32 bytes"):
        LocalKey.from_setting(base64.b64encode(b"short").decode(), tmp_path)
