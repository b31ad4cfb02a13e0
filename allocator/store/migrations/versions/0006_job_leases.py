"""Job leases with a number: `jobs.lease` counts the claims of a job and is the fencing token
every write of a worker names, so that a worker whose job was handed to another writes nothing
more; `attempt` then counts only the attempts that count against the job (a server killed
under it does not).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease", sa.Integer, nullable=False, server_default="0"))
    op.execute("UPDATE jobs SET lease = attempt")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease")
