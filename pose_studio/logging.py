"""Structured JSON logs: one object per line, with the request id, shop and job id of the work in hand.

Context travels in `contextvars`, so a line logged deep inside a service carries the request id of the HTTP
request (web) or the job id of the Celery task (workers) without being passed around. Every handler installed
here runs a redaction filter first: access tokens, ID tokens, Fernet keys and the configured secrets never
reach a log line, whatever a caller formats into its message.

    configure_logging()                       # once per process (serve / worker / dev do it)
    with log_context(shop="a.myshopify.com"):  # or bind_log_context(...) in a request
        log.info("fetched source", extra={"fields": {"bytes": 1234}})
    log_job_transition(job, "queued", "fetching")   # the one line per job state change
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

from pose_studio import log_redaction

JOB_LOGGER = "pose_studio.jobs"
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "pose_studio_log_context", default=MappingProxyType({})
)

# ---------------------------------------------------------------------------------------------- context


def bind_log_context(**fields: Any) -> None:
    """Add fields (request_id, shop, job_id, ...) to every line logged from now on in this context."""
    current = dict(_context.get())
    current.update({k: v for k, v in fields.items() if v is not None})
    _context.set(current)


def clear_log_context() -> None:
    _context.set({})


def current_log_context() -> dict[str, Any]:
    return dict(_context.get())


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a block, then restore what was there before."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


# ---------------------------------------------------------------------------------------------- redaction

REDACTED = log_redaction.REDACTED
_SENSITIVE_KEY = re.compile(
    r"(secret|token|password|passwd|authorization|api[_-]?key|access[_-]?key|hmac|signature|cookie|"
    r"encryption[_-]?keys?|fernet|credential)",
    re.IGNORECASE,
)
# What the core's patterns (pose_studio.log_redaction: Bearer, JWT, Fernet, shpat_-style, token=) leave:
# passwords inside URLs (DATABASE_URL, REDIS_URL) and any key=value / "key": "value" whose key names a secret.
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@"), r"\1:" + REDACTED + "@"),
    (
        re.compile(
            r"(?i)([\"']?[\w-]*(?:secret|token|password|api[_-]?key|access[_-]?key|hmac|signature|"
            r"encryption[_-]?keys?)[\w-]*[\"']?\s*[=:]\s*[\"']?)([^\"'&\s,;}]{4,})"
        ),
        r"\1" + REDACTED,
    ),
)


def register_secrets(values: Iterable[str | None]) -> None:
    """Redact these exact strings wherever they appear (configured secrets, keys); comma-separated lists
    (POSE_STUDIO_ENCRYPTION_KEYS) are split. Kept in the core's registry (pose_studio.log_redaction)."""
    parts = [p.strip() for v in values if v for p in str(v).split(",")]
    log_redaction.register_secrets(*parts)


def register_secrets_from_config(config: Mapping[str, Any]) -> None:
    """Register every configured value whose name says it is a secret (URLs with passwords are handled by
    pattern, and their non-secret parts must stay readable)."""
    register_secrets(
        str(v)
        for k, v in config.items()
        if isinstance(v, str) and _SENSITIVE_KEY.search(k) and "URL" not in k
    )


def redact_text(text: str) -> str:
    """Return `text` with every known secret and every credential-shaped substring replaced: the core's
    patterns and registry first, then ours (secret-named key=value pairs, passwords in URLs)."""
    text = log_redaction.redact(text)
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(key: str, value: Any) -> Any:
    """Redact a structured field: the whole value when the key names a secret, else its text."""
    if _SENSITIVE_KEY.search(key) and key not in ("token_type",):
        return REDACTED if value not in (None, "") else value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, v) for v in value]
    return value


class RedactionFilter(logging.Filter):
    """Scrubs the message (core's rules + ours) and the structured `fields` of a record, in place, so every
    handler sees the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        log_redaction.scrub_record(record)
        if not getattr(record, "_pose_studio_fields_redacted", False):
            record.msg = redact_text(str(record.msg))
            if record.exc_text:
                record.exc_text = redact_text(record.exc_text)
            fields = getattr(record, "fields", None)
            if isinstance(fields, Mapping):
                record.fields = {str(k): redact_value(str(k), v) for k, v in fields.items()}
            record._pose_studio_fields_redacted = True
        return True


# ---------------------------------------------------------------------------------------------- JSON


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the bound context, then `extra={"fields": {...}}`."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _context.get().items():
            payload.setdefault(key, value)
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key, value in fields.items():
                payload[str(key)] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exc"] = redact_text(record.exc_text)
        payload["pid"] = record.process
        return json.dumps(payload, default=str, ensure_ascii=False)


_HANDLER_MARK = "_pose_studio_handler"


def configure_logging(
    level: str | int | None = None, *, stream: Any = None, json_lines: bool | None = None
) -> None:
    """Install one JSON handler (with redaction) on the root logger; idempotent.

    LOG_LEVEL (default INFO) and LOG_FORMAT (`json` default, `text` for a terminal) come from the environment.
    """
    level = level or os.environ.get("LOG_LEVEL", "INFO").upper()
    if json_lines is None:
        json_lines = os.environ.get("LOG_FORMAT", "json").lower() != "text"
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RedactionFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # The core's record-factory hook scrubs messages when a record is created, for every handler.
    log_redaction.install_log_redaction()
    # Every handler already installed (gunicorn's, celery's) gets the filter too: redaction is not optional.
    for existing in root.handlers:
        if not any(isinstance(f, RedactionFilter) for f in existing.filters):
            existing.addFilter(RedactionFilter())
    # urllib3 logs full URLs at DEBUG (with query strings); keep it at INFO even when we debug.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))


# ---------------------------------------------------------------------------------------------- jobs

_job_log = logging.getLogger(JOB_LOGGER)


def _state_name(state: Any) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def log_job_transition(job: Any, old: Any, new: Any, *, reason: str | None = None, **fields: Any) -> None:
    """The one structured line per job state change (and the job-transitions counter).

    `job` is the job row (plugin.models.job.Job): id, shop_id, attempts, product_id, pose_set_id, backend and,
    for failed/cancelled, error_code/error_message are read from it. `old`/`new` are JobState (or str).
    Keyword fields are added to the line (e.g. `shop="x.myshopify.com"`, `seconds=12.5`).
    """
    from pose_studio import metrics

    old_name, new_name = _state_name(old), _state_name(new)
    line: dict[str, Any] = {"event": "job.transition", "job_id": getattr(job, "id", None)}
    for attr in ("shop_id", "product_id", "pose_set_id", "backend", "attempts"):
        value = getattr(job, attr, None)
        if value is not None:
            line[attr] = value
    line["from"], line["to"] = old_name, new_name
    if new_name in ("failed", "cancelled"):
        code = getattr(job, "error_code", None)
        if code:
            line["error_code"] = str(code)
        reason = reason or getattr(job, "error_message", None)
    if reason:
        line["reason"] = str(reason)
    line.update(fields)
    level = logging.WARNING if new_name == "failed" else logging.INFO
    _job_log.log(level, "job %s: %s -> %s", line["job_id"], old_name, new_name, extra={"fields": line})
    metrics.record_job_transition(old_name, new_name)
