"""Alembic schema upgrades of the plugin database, runnable from any working directory.

`alembic_config(url)` builds the Alembic Config in code (script location = the `migrations` folder, found by
import spec, so it works in a checkout, an editable install, or a wheel), so neither `pose-studio migrate`
nor the tests depend on the cwd or an ini file. `migrations/alembic.ini` is only for running `alembic` by hand.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory


def migrations_dir() -> Path:
    spec = importlib.util.find_spec("migrations")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / "env.py").is_file():
            return Path(location)
    return Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    # ConfigParser would treat '%' in a password as interpolation; env.py reads the URL from attributes instead.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
