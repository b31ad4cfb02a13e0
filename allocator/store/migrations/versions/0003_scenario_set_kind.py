"""Scenario sets say what they are: `scenarios` (a list given by the client) or `ratio_sweep`
(a presales-to-sales ratio sweep, which also has a ratio curve).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scenario_sets") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="scenarios")
        )


def downgrade() -> None:
    with op.batch_alter_table("scenario_sets") as batch:
        batch.drop_column("kind")
