"""shop_settings.output_format: the file format of generated images (png, jpeg, webp)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # server default: existing shops keep PNG, what the GPU worker wrote before the setting existed
    with op.batch_alter_table("shop_settings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output_format", sa.String(length=8), server_default="png", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("shop_settings", schema=None) as batch_op:
        batch_op.drop_column("output_format")
