"""Teams own their workspace and their evidence: the workspace table is keyed by team (the one
workspace of before, row id 1, becomes team `default`'s), and requests, actuals and outcomes
get a `team` (existing ones: `default`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DEFAULT_TEAM = "default"
TEAM_TABLES = ("plan_requests", "actuals", "outcomes")
COLUMNS = "version, content, updated_by, updated_at, run_ids"


def _workspace_table(name: str, key: sa.Column[object]) -> None:
    op.create_table(
        name,
        key,
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_ids", sa.Text, nullable=False),
    )


def upgrade() -> None:
    _workspace_table("workspace_by_team", sa.Column("team", sa.String(100), primary_key=True))
    op.execute(
        f"INSERT INTO workspace_by_team (team, {COLUMNS}) "
        f"SELECT '{DEFAULT_TEAM}', {COLUMNS} FROM workspace"
    )
    op.drop_table("workspace")
    op.rename_table("workspace_by_team", "workspace")
    for table in TEAM_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("team", sa.String(100), nullable=False, server_default=DEFAULT_TEAM)
            )
        op.create_index(f"ix_{table}_team", table, ["team"])


def downgrade() -> None:
    for table in TEAM_TABLES:
        op.drop_index(f"ix_{table}_team", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("team")
    _workspace_table(
        "workspace_by_id", sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)
    )
    op.execute(
        f"INSERT INTO workspace_by_id (id, {COLUMNS}) "
        f"SELECT 1, {COLUMNS} FROM workspace WHERE team = '{DEFAULT_TEAM}'"
    )
    op.drop_table("workspace")
    op.rename_table("workspace_by_id", "workspace")
