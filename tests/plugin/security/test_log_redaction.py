from __future__ import annotations

import logging

import pytest

from pose_studio.log_redaction import install_log_redaction, redact, register_secrets


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJhbGciOiJIUzI1NiJ9"),
        ('{"access_token": "shpat_0123456789abcdef", "scope": "read"}', "shpat_0123456789abcdef"),
        ("refresh_token=abcdef0123456789&x=1", "abcdef0123456789"),
        ("stored gAAAAABlZ1234567890abcdefghijklmnopqrstuvwxyz", "gAAAAABlZ1234567890abcdef"),
        ("X-Shopify-Access-Token: 9f8e7d6c5b4a39281706", "9f8e7d6c5b4a39281706"),
    ],
)
def test_credential_shapes_are_masked(line: str, secret: str) -> None:
    assert secret not in redact(line)


def test_registered_values_are_masked_in_every_record(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    register_secrets("plain-random-token-value-42")
    with caplog.at_level(logging.INFO):
        logging.getLogger("any.library").info("got %s", "plain-random-token-value-42")
        try:
            raise RuntimeError("failed with plain-random-token-value-42")
        except RuntimeError:
            logging.getLogger("any.library").exception("boom")
    assert "plain-random-token-value-42" not in caplog.text
    assert "got [REDACTED]" in caplog.text


def test_ordinary_text_is_untouched() -> None:
    assert redact("webhook products/update for a.myshopify.com: accepted") == (
        "webhook products/update for a.myshopify.com: accepted"
    )
