"""Shop tokens encrypted at rest with MultiFernet (AES-128-CBC + HMAC-SHA256, authenticated).

POSE_STUDIO_ENCRYPTION_KEYS is a comma-separated list of Fernet keys. The first one encrypts; every one
decrypts,
so rotation is: prepend a new key, deploy, run `pose-studio rotate-keys`, then drop the old key.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from plugin.errors import ConfigError, TokenEncryptionError


class RotationOutcome(StrEnum):
    ROTATED = "rotated"
    CURRENT = "current"  # already encrypted under the first key


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError(
                "POSE_STUDIO_ENCRYPTION_KEYS is empty. Generate a key with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`."
            )
        fernets: list[Fernet] = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                # The key itself is never echoed: the message names its position only.
                raise ConfigError(
                    f"POSE_STUDIO_ENCRYPTION_KEYS: key #{position} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes, 44 characters)."
                ) from None
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_setting(cls, value: str) -> TokenCipher:
        return cls([k.strip() for k in (value or "").split(",") if k.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise TokenEncryptionError(
                "A stored token cannot be decrypted with any key in POSE_STUDIO_ENCRYPTION_KEYS; "
                "a key that encrypted it was removed. Restore the old key, or have the shop open the app "
                "again."
            ) from None

    def rotate(self, ciphertext: str) -> tuple[str, RotationOutcome]:
        """Re-encrypt under the first key; tokens already under it are returned unchanged."""
        try:
            self._primary.decrypt(ciphertext.encode())
            return ciphertext, RotationOutcome.CURRENT
        except InvalidToken:
            pass
        try:
            return self._multi.rotate(ciphertext.encode()).decode(), RotationOutcome.ROTATED
        except InvalidToken:
            raise TokenEncryptionError(
                "A stored token cannot be decrypted with any key in POSE_STUDIO_ENCRYPTION_KEYS."
            ) from None


def init_cipher(app: Flask) -> None:
    app.extensions["pose_studio_cipher"] = TokenCipher.from_setting(app.config["POSE_STUDIO_ENCRYPTION_KEYS"])


def get_cipher() -> TokenCipher:
    return current_app.extensions["pose_studio_cipher"]
