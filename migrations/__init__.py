"""Alembic migrations of the plugin database. Run them with `pose-studio migrate` (plugin/schema.py).

By hand: `DATABASE_URL=... alembic -c migrations/alembic.ini revision --autogenerate -m "add jobs"`.
"""
