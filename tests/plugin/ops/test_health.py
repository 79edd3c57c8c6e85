"""/healthz and /readyz against the real database, Redis broker and storage; each failure names its check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugin import create_app
from plugin.observability import init_observability
from tests.conftest import create_scratch_database, drop_scratch_database


def test_healthz_answers_without_touching_dependencies(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok"


def test_readyz_is_ok_when_every_dependency_answers(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "migrations", "broker", "storage"}
    assert all(check["ok"] for check in body["checks"].values())


def _ready(config: dict[str, Any]) -> Any:
    app = create_app(config)
    init_observability(app)
    return app.test_client().get("/readyz")


@pytest.mark.parametrize(
    ("override", "failed_check", "words"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "broker", "Error"),
        ({"POSE_STUDIO_STORAGE_URL": "file:///nonexistent/pose-studio-storage"}, "storage", "does not exist"),
    ],
    ids=["broker-down", "storage-missing"],
)
def test_readyz_names_the_failed_dependency(
    app_config: dict[str, Any], override: dict[str, str], failed_check: str, words: str
) -> None:
    response = _ready({**app_config, **override})
    assert response.status_code == 503
    assert response.json["failed"] == [failed_check]
    assert words in response.json["checks"][failed_check]["detail"]


def test_readyz_fails_on_a_database_that_is_down(app_config: dict[str, Any]) -> None:
    url = "postgresql+psycopg://postgres:hunter2secret@127.0.0.1:1/nowhere"
    response = _ready({**app_config, "DATABASE_URL": url})
    assert response.status_code == 503
    assert set(response.json["failed"]) == {"database", "migrations"}
    # the password of the URL never reaches the probe's answer
    assert "hunter2secret" not in response.get_data(as_text=True)


def test_readyz_fails_until_migrations_reach_head(app_config: dict[str, Any], storage_dir: Path) -> None:
    base = app_config["DATABASE_URL"]
    url = create_scratch_database(base, prefix="pose_studio_ops_unmigrated")
    try:
        response = _ready({**app_config, "DATABASE_URL": url})
        assert response.status_code == 503
        assert response.json["failed"] == ["migrations"]
        assert "pose-studio migrate" in response.json["checks"]["migrations"]["detail"]
    finally:
        drop_scratch_database(url, base)
