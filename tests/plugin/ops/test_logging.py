"""Structured logs: one JSON object per line with request id and shop, one line per job transition, and no
token or secret in any line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from pose_studio import metrics
from pose_studio.logging import (
    configure_logging,
    log_context,
    log_job_transition,
    register_secrets_from_config,
)


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Capture what the production handler writes (JSON + redaction), then restore the root logger."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("INFO", stream=buffer, json_lines=True)
    yield buffer
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


def parsed(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_every_request_gets_an_id_echoed_and_logged(client: Any, log_lines: io.StringIO) -> None:
    response = client.get("/jobs-that-do-not-exist", headers={"X-Request-Id": "abc12345-from-proxy"})
    assert response.headers["X-Request-Id"] == "abc12345-from-proxy"
    fresh = client.get("/also-missing")
    generated = fresh.headers["X-Request-Id"]
    assert len(generated) == 32 and generated != "abc12345-from-proxy"
    lines = [line for line in parsed(log_lines) if line.get("event") == "http.request"]
    assert [line["request_id"] for line in lines] == ["abc12345-from-proxy", generated]
    assert lines[0]["status"] == 404 and lines[0]["route"] == "<unmatched>"
    assert isinstance(lines[0]["duration_ms"], float)


@pytest.mark.parametrize("bad_id", ["short", "x" * 65, "has spaces in it", "quote\"injection-123"])
def test_a_malformed_request_id_is_replaced(client: Any, bad_id: str) -> None:
    response = client.get("/healthz", headers={"X-Request-Id": bad_id})
    assert response.headers["X-Request-Id"] != bad_id


def test_one_json_line_per_job_transition(log_lines: io.StringIO) -> None:
    from plugin.models.job import Job, JobState

    before = metrics.JOB_TRANSITIONS.labels("generating", "failed")._value.get()
    job = Job(id=7, shop_id=3, attempts=2, product_id="gid://shopify/Product/1", pose_set_id="catalog-basics",
              state=JobState.FAILED, error_code="input_rejected", error_message="the photo shows no person")
    with log_context(request_id="req-0001", shop="a.myshopify.com"):
        log_job_transition(job, JobState.GENERATING, JobState.FAILED, seconds=1.5)
    [line] = [line for line in parsed(log_lines) if line.get("event") == "job.transition"]
    assert line["job_id"] == 7 and line["shop"] == "a.myshopify.com" and line["shop_id"] == 3
    assert (line["from"], line["to"], line["attempts"]) == ("generating", "failed", 2)
    assert (line["error_code"], line["reason"]) == ("input_rejected", "the photo shows no person")
    assert line["level"] == "warning" and line["request_id"] == "req-0001" and line["seconds"] == 1.5
    assert metrics.JOB_TRANSITIONS.labels("generating", "failed")._value.get() == before + 1


SECRET_SHAPES = {
    "access token": "shpat_0123456789abcdef0123456789abcdef",
    "refresh token": "shprt_0123456789abcdef0123456789abcdef",
    "id token": "eyJhbGciOiJIUzI1NiJ9.eyJkZXN0IjoiaHR0cHM6Ly9hIn0.c2lnbmF0dXJlLXZhbHVl",
    "fernet": "gAAAAABnZXhhbXBsZS1jaXBoZXJ0ZXh0LXRoYXQtaXMtbG9uZw==",
    "db password": "postgresql://app:pa55word-xyz@db.internal/pose",
}


@pytest.mark.parametrize("name", list(SECRET_SHAPES))
def test_credential_shapes_never_reach_a_line(name: str, log_lines: io.StringIO) -> None:
    secret = SECRET_SHAPES[name]
    log = logging.getLogger("pose_studio.test")
    log.info("calling Shopify with %s", secret)
    log.warning("failed", extra={"fields": {"detail": f"token was {secret}", "access_token": secret}})
    try:
        raise RuntimeError(f"upstream said {secret}")
    except RuntimeError:
        log.exception("boom")
    output = log_lines.getvalue()
    needle = "pa55word-xyz" if name == "db password" else secret
    assert needle not in output
    assert output.count("[REDACTED]") >= 4


def test_configured_secrets_are_redacted_wherever_they_appear(
    app: Any, client: Any, log_lines: io.StringIO, app_config: dict[str, Any], id_token: Any
) -> None:
    register_secrets_from_config(app.config)
    api_secret = app_config["SHOPIFY_API_SECRET"]
    key = app_config["POSE_STUDIO_ENCRYPTION_KEYS"]
    logging.getLogger("pose_studio.test").error("config dump: %s %s", api_secret, key)
    token = id_token()
    # a page request carries the ID token in its query string; no line may repeat it
    client.get(f"/?shop=pose-studio-test.myshopify.com&id_token={token}")
    output = log_lines.getvalue()
    assert api_secret not in output and key not in output and token not in output
