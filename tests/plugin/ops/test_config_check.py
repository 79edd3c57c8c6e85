"""`pose-studio config check`: errors for unsafe production settings (exit 1), warnings listed, no values
printed."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from plugin.config_check import check_config
from pose_studio.cli import main

GOOD_SECRET = "5f1c0a9e7b3d4c2a8e6f0b1d3c5a7e9f"
GOOD_KEY = Fernet.generate_key().decode()


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "POSE_STUDIO_ENV": "production",
        "SHOPIFY_API_KEY": "0123456789abcdef0123456789abcdef",
        "SHOPIFY_API_SECRET": GOOD_SECRET,
        "SHOPIFY_APP_URL": "https://pose.example-shop-tools.com",
        "DATABASE_URL": "postgresql+psycopg://pose:pw@db.internal:5432/pose",
        "REDIS_URL": "redis://:pw@redis.internal:6379/0",
        "POSE_STUDIO_ENCRYPTION_KEYS": GOOD_KEY,
        "POSE_STUDIO_STORAGE_URL": "s3://pose-studio-media/prod",
        "POSE_STUDIO_PROXY_HOPS": "1",
        "POSE_STUDIO_METRICS_TOKEN": "9d8c7b6a5f4e3d2c1b0a",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def test_a_complete_production_environment_passes() -> None:
    report = check_config(production_env())
    assert report.ok, report.as_text()
    assert report.warnings == []


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"SHOPIFY_API_SECRET": "replace-with-your-client-secret"}, "SHOPIFY_API_SECRET"),
        ({"SHOPIFY_API_SECRET": "dev-secret-0123456789abcdef"}, "SHOPIFY_API_SECRET"),
        ({"SHOPIFY_API_SECRET": "short1234"}, "SHOPIFY_API_SECRET"),
        ({"SHOPIFY_ADMIN_ORIGIN": "http://127.0.0.1:8765"}, "SHOPIFY_ADMIN_ORIGIN"),
        ({"POSE_STUDIO_ENCRYPTION_KEYS": "not-a-fernet-key"}, "POSE_STUDIO_ENCRYPTION_KEYS"),
        ({"POSE_STUDIO_ENCRYPTION_KEYS": ""}, "POSE_STUDIO_ENCRYPTION_KEYS"),
        ({"DATABASE_URL": "sqlite:////var/lib/pose.sqlite"}, "DATABASE_URL"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"CELERY_BROKER_URL": "sqla+sqlite:///broker.sqlite"}, "CELERY_BROKER_URL"),
        ({"SHOPIFY_APP_URL": "http://pose.example-shop-tools.com"}, "SHOPIFY_APP_URL"),
        ({"POSE_STUDIO_STORAGE_URL": ""}, "POSE_STUDIO_STORAGE_URL"),
        ({"FLASK_DEBUG": "1"}, "FLASK_DEBUG"),
        ({"POSE_STUDIO_PROXY_HOPS": "many"}, "POSE_STUDIO_PROXY_HOPS"),
        ({"POSE_STUDIO_VISIBILITY_TIMEOUT": "5"}, "POSE_STUDIO_VISIBILITY_TIMEOUT"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else v,
)
def test_unsafe_production_settings_are_errors(overrides: dict[str, str], setting: str) -> None:
    report = check_config(production_env(**overrides))
    assert not report.ok
    assert setting in {f.setting for f in report.errors}, report.as_text()


def test_development_mode_in_a_production_environment_is_an_error() -> None:
    env = production_env(POSE_STUDIO_ENV="development", SHOPIFY_ADMIN_ORIGIN="http://127.0.0.1:8765")
    assert check_config(env).ok  # a development environment may use the emulator...
    report = check_config(env, production=True)  # ...but not when checked as production
    assert {"POSE_STUDIO_ENV", "SHOPIFY_ADMIN_ORIGIN"} <= {f.setting for f in report.errors}


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"POSE_STUDIO_METRICS_TOKEN": ""}, "POSE_STUDIO_METRICS_TOKEN"),
        ({"POSE_STUDIO_PROXY_HOPS": ""}, "POSE_STUDIO_PROXY_HOPS"),
        ({"POSE_STUDIO_STORAGE_URL": "file:///srv/pose-studio"}, "POSE_STUDIO_STORAGE_URL"),
        ({"REDIS_URL": "redis://redis.internal:6379/0"}, "REDIS_URL"),
        ({"SHOPIFY_API_SECRET_PREVIOUS": GOOD_SECRET}, "SHOPIFY_API_SECRET_PREVIOUS"),
        ({"POSE_STUDIO_STORGE_URL": "s3://typo"}, "POSE_STUDIO_STORGE_URL"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else v,
)
def test_questionable_settings_are_warnings(overrides: dict[str, str], setting: str) -> None:
    report = check_config(production_env(**overrides))
    assert report.ok, report.as_text()
    assert setting in {f.setting for f in report.warnings}


def run_cli(env: dict[str, str], *args: str) -> Any:
    # A clean environment: only what the test gives (CliRunner's env= adds to os.environ otherwise).
    runner = CliRunner()
    import os

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return runner.invoke(main, ["config", "check", *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_cli_exits_1_on_errors_and_never_prints_values() -> None:
    leaked = "changeme-not-the-real-secret-123"
    result = run_cli(production_env(SHOPIFY_API_SECRET=leaked, DATABASE_URL="sqlite:///x.sqlite"))
    assert result.exit_code == 1
    assert "error: SHOPIFY_API_SECRET" in result.output and "error: DATABASE_URL" in result.output
    assert leaked not in result.output and GOOD_KEY not in result.output


def test_cli_exits_0_with_warnings_and_speaks_json() -> None:
    import json

    result = run_cli(production_env(POSE_STUDIO_METRICS_TOKEN=""), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["ok"] is True and body["errors"] == []
    assert [w["setting"] for w in body["warnings"]] == ["POSE_STUDIO_METRICS_TOKEN"]
