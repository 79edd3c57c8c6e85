"""Alembic: upgrade from empty and downgrade to empty on PostgreSQL and SQLite; exactly one head (redash)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from plugin import schema as migrations
from plugin.models import Base
from tests.conftest import DEFAULT_DATABASE_URL, create_scratch_database, drop_scratch_database


def test_single_head() -> None:
    assert len(migrations.heads()) == 1, f"several Alembic heads: {migrations.heads()}; merge them"


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_upgrade_from_empty_matches_models_and_downgrades_to_empty(backend: str) -> None:
    base = os.environ.get("TEST_DATABASE_URL", DEFAULT_DATABASE_URL) if backend == "postgresql" else "sqlite://"
    url = create_scratch_database(base, prefix="pose_studio_migrations")
    try:
        migrations.upgrade(url)
        engine = create_engine(url)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata)
            tables = set(inspect(connection).get_table_names())
        assert {"shops", "webhook_deliveries", "alembic_version"} <= tables
        assert diff == [], f"models and migrations disagree: {diff}"
        migrations.downgrade(url, "base")
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
        migrations.upgrade(url)  # and back up again
        engine.dispose()
    finally:
        drop_scratch_database(url, base)


def test_migrate_command_works_from_any_directory(tmp_path: Any) -> None:
    database = tmp_path / "cli.sqlite"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}"}
    result = subprocess.run([str(Path(sys.executable).parent / "pose-studio"), "migrate"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "database at revision head" in result.stdout
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert "shops" in inspect(connection).get_table_names()
    engine.dispose()
