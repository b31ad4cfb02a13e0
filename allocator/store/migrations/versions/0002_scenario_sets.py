"""Scenario sets: the queue state of what-if requests; their inputs and comparisons are
`scenario_accepted` and `scenario_finished` records of the ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "scenario_sets",
        sa.Column("id", ID, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("portfolio_id", sa.BigInteger),
        sa.Column("base_run_id", sa.BigInteger),
        sa.Column("portfolio_name", sa.String(200), nullable=False),
        sa.Column("scenarios", sa.Integer, nullable=False),
        sa.Column("time_limit", sa.Float, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("solves_done", sa.Integer, nullable=False),
        sa.Column("solves_total", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("accepted_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("finished_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
    )
    op.create_index("ix_scenario_sets_status", "scenario_sets", ["status"])


def downgrade() -> None:
    op.drop_table("scenario_sets")
