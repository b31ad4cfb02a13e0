"""The workspace: the living plan (engineers, opportunities, demands, pins, forbids, policy)
as one document with a version, changed by forms, imports and requests; and the requests
sales files against it, each with the opportunity and demands it added and the last run that
took it in. A weekly run snapshots the document into a stored portfolio (the ledger).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "workspace",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_ids", sa.Text, nullable=False),
    )
    op.create_table(
        "plan_requests",
        sa.Column("id", ID, primary_key=True),
        sa.Column("requester", sa.String(200), nullable=False, index=True),
        sa.Column("opportunity_id", sa.String(200), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("plan_requests")
    op.drop_table("workspace")
