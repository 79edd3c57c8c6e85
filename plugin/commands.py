"""`pose-studio` commands owned by the web side (registered lazily by plugin/cli.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click


@click.command()
@click.option("--revision", default="head", show_default=True, help="Alembic revision to upgrade to.")
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="Database to migrate (default: DATABASE_URL, else SQLite in the instance folder).")
def migrate(revision: str, database_url: str | None) -> None:
    """Upgrade the database schema (works from any directory; needs only DATABASE_URL)."""
    from plugin.config import database_url_from_env
    from plugin.schema import upgrade

    url = database_url or database_url_from_env(_instance_path())
    upgrade(url, revision)
    click.echo(f"database at revision {revision}: {_safe_url(url)}")


@click.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored shop token under the first key of POSE_STUDIO_ENCRYPTION_KEYS."""
    from flask import current_app

    from plugin.shopify.token_store import rotate_token_encryption

    with _app_context():
        def progress(done: int, total: int) -> None:
            click.echo(f"  {done}/{total} shops", err=True)

        report = rotate_token_encryption(on_progress=progress)
        keys = len([k for k in current_app.config["POSE_STUDIO_ENCRYPTION_KEYS"].split(",") if k.strip()])
    click.echo(f"re-encrypted {report.rotated} tokens, {report.current} already under the current key, "
               f"{report.failed} undecryptable ({keys} keys configured)")
    if report.failed:
        raise click.ClickException(
            f"{report.failed} tokens could not be decrypted with any configured key; those shops must "
            "open the app again (or restore the removed key and run rotate-keys again)."
        )


def _instance_path() -> str:
    from flask import Flask

    return Flask("plugin", instance_relative_config=True).instance_path


@contextmanager
def _app_context() -> Iterator[None]:
    """An app context: the app of Flask's CLI runner / `flask` (ScriptInfo) when there is one, else a new app
    from the environment (`pose-studio rotate-keys`)."""
    from flask import current_app
    from flask.cli import ScriptInfo

    if current_app:
        yield
        return
    info = click.get_current_context().find_object(ScriptInfo)
    if info is not None and info.create_app is not None:
        app = info.load_app()
    else:
        from plugin import create_app

        app = create_app()
    with app.app_context():
        yield


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
