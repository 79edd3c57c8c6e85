"""Keep tokens and secrets out of every log line.

Two layers: known secret values (the app secret, encryption keys, and every token this process encrypts or
decrypts) are replaced wherever they appear, and well-known credential shapes (Bearer headers, JWTs, Fernet
ciphertexts, `shpat_`-style tokens, `access_token=`/`"refresh_token": "…"`) are masked even when unknown.

`install_log_redaction()` wraps the log-record factory, so the scrubbing happens when a record is created and
covers every handler, including ones added later (gunicorn's, Celery's, pytest's caplog).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

REDACTED = "[REDACTED]"
_MIN_SECRET_LENGTH = 8  # shorter values would redact ordinary words
_MAX_REMEMBERED = 4096

_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),  # JWT (ID tokens)
    re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet ciphertext
    re.compile(r"\bshp(?:at|ua|ca|pa|ss|rt)_[A-Za-z0-9]+"),  # Shopify access/refresh token shapes
    re.compile(
        r"(?i)([\"']?(?:access_token|refresh_token|client_secret|subject_token|id_token|hmac|"
        r"x-shopify-access-token|x-shopify-hmac-sha256|shopify-hmac-sha256)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\"'&\s,}]+"
    ),
)


class SecretRegistry:
    """Exact values to scrub; bounded so a long-running worker does not grow without limit."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        with self._lock:
            changed = False
            for value in values:
                if not value or len(value) < _MIN_SECRET_LENGTH:
                    continue
                if value in self._values:
                    self._values.move_to_end(value)
                    continue
                self._values[value] = None
                changed = True
                while len(self._values) > _MAX_REMEMBERED:
                    self._values.popitem(last=False)
            if changed:
                self._pattern = None

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


_registry = SecretRegistry()


def register_secrets(*values: str | None) -> None:
    """Remember values (tokens, secrets) that must never be printed."""
    _registry.add(*values)


def register_secret_list(values: Iterable[str]) -> None:
    _registry.add(*values)


def redact(text: str) -> str:
    exact = _registry.pattern()
    if exact is not None:
        text = exact.sub(REDACTED, text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites the record's message (and traceback text) with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def scrub_record(record: logging.LogRecord) -> None:
    if getattr(record, "_pose_studio_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not break logging; keep the raw template
        message = str(record.msg)
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._pose_studio_redacted = True


_installed = False
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Scrub every log record this process creates (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous_factory = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous_factory(*args, **kwargs)
            scrub_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
