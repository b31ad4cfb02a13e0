"""Actuals (hours per engineer, opportunity and ISO week) and outcomes (won with value, lost,
no decision, open, with a date); each import's rows point at its ledger record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "actuals",
        sa.Column("id", ID, primary_key=True),
        sa.Column("import_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("engineer_id", sa.String(200), nullable=False),
        sa.Column("opportunity_id", sa.String(200), nullable=False),
        sa.Column("week", sa.String(10), nullable=False),
        sa.Column("hours", sa.Float, nullable=False),
    )
    op.create_index("ix_actuals_week", "actuals", ["week"])
    op.create_table(
        "outcomes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("import_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("opportunity_id", sa.String(200), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("decided_on", sa.Date, nullable=False),
    )
    op.create_index("ix_outcomes_opportunity_id", "outcomes", ["opportunity_id"])


def downgrade() -> None:
    op.drop_table("outcomes")
    op.drop_table("actuals")
