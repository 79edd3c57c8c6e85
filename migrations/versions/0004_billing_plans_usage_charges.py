"""billing_plans and usage_charges: optional usage billing through Shopify (one charge per published image);
product_sources.last_triggered_at: orders two product webhooks of the same second

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 21:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("product_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_triggered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "billing_plans",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("line_item_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("capped_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("balance_used", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("price_per_image", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("confirmation_url", sa.Text(), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_billing_plans_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", name=op.f("pk_billing_plans")),
    )  # fmt: skip
    op.create_table(
        "usage_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("output_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("shopify_record_id", sa.String(length=255), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_usage_charges_shop_id_shops"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_charges")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_usage_charges_idempotency_key")),
    )  # fmt: skip
    with op.batch_alter_table("usage_charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_charges_shop_id"), ["shop_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_usage_charges_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usage_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_charges_status"))
        batch_op.drop_index(batch_op.f("ix_usage_charges_shop_id"))
    op.drop_table("usage_charges")
    op.drop_table("billing_plans")
    with op.batch_alter_table("product_sources", schema=None) as batch_op:
        batch_op.drop_column("last_triggered_at")
