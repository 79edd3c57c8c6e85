"""Tokens at rest: the raw column never holds the token; `pose-studio rotate-keys` re-encrypts under the new key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from plugin.commands import rotate_keys
from plugin.errors import ConfigError, TokenEncryptionError
from plugin.extensions import db
from plugin.security.crypto import TokenCipher


def raw_token_columns(app: Any) -> list[tuple[str, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            text("SELECT access_token_encrypted, refresh_token_encrypted FROM shops ORDER BY id"))]


def test_tokens_are_encrypted_at_rest(app: Any, make_shop: Any) -> None:
    shop = make_shop(access_token="shpat_plain_access_0001", refresh_token="shprt_plain_refresh_0001")
    [(access, refresh)] = raw_token_columns(app)
    assert "shpat_plain_access_0001" not in access and "shprt_plain_refresh_0001" not in refresh
    with app.app_context():
        cipher = app.extensions["pose_studio_cipher"]
        assert cipher.decrypt(access) == shop.access_token
        assert cipher.decrypt(refresh) == shop.refresh_token


@pytest.fixture
def old_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def app_config(app_config: dict[str, Any], old_key: str) -> dict[str, Any]:
    return {**app_config, "POSE_STUDIO_ENCRYPTION_KEYS": old_key}


def test_rotate_keys_re_encrypts_under_the_newest_key(app_config: dict[str, Any], app: Any, make_shop: Any,
                                                      old_key: str) -> None:
    from plugin import create_app

    make_shop(access_token="shpat_a", refresh_token="shprt_a")
    make_shop(access_token="shpat_b", refresh_token="shprt_b")
    before = raw_token_columns(app)
    new_key = Fernet.generate_key().decode()
    rotated_app = create_app({**app_config, "POSE_STUDIO_ENCRYPTION_KEYS": f"{new_key},{old_key}"})

    result = rotated_app.test_cli_runner().invoke(rotate_keys)
    assert result.exit_code == 0, result.output
    assert "re-encrypted 4 tokens, 0 already under the current key, 0 undecryptable" in result.output
    assert "2/2 shops" in result.output

    after = raw_token_columns(app)
    new_only = TokenCipher([new_key])
    assert [new_only.decrypt(c) for row in after for c in row] == ["shpat_a", "shprt_a", "shpat_b", "shprt_b"]
    assert all(a != b for a, b in zip(before, after, strict=True))
    again = rotated_app.test_cli_runner().invoke(rotate_keys)
    assert "re-encrypted 0 tokens, 4 already under the current key" in again.output
    with pytest.raises(TokenEncryptionError):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(after[0][0])


@pytest.mark.parametrize("setting", ["", "not-a-key", "a" * 44])
def test_bad_keys_fail_at_startup(setting: str) -> None:
    with pytest.raises(ConfigError):
        TokenCipher.from_setting(setting)
