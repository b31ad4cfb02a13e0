"""Create the run store: ledger (append-only, hash-chained), ledger head, portfolios, runs,
API keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
APPEND_ONLY = "ledger records are append-only"
ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject_id", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("prev_sha256", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_index("ix_ledger_kind_subject", "ledger", ["kind", "subject_id"])
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.execute(sa.text(f"INSERT INTO ledger_head (id, seq, sha256) VALUES (1, 0, '{GENESIS}')"))
    op.create_table(
        "portfolios",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("engineers", sa.Integer, nullable=False),
        sa.Column("opportunities", sa.Integer, nullable=False),
        sa.Column("demands", sa.Integer, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("week", sa.String(10), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("portfolio_id", sa.BigInteger),
        sa.Column("portfolio_name", sa.String(200), nullable=False),
        sa.Column("previous_run_id", sa.BigInteger),
        sa.Column("time_limit", sa.Float, nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("best_objective", sa.Float),
        sa.Column("best_bound", sa.Float),
        sa.Column("gap", sa.Float),
        sa.Column("progress_seconds", sa.Float),
        sa.Column("solve_status", sa.String(16)),
        sa.Column("objective", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("accepted_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("finished_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
    )
    for column in ("status", "week", "submitted_by"):
        op.create_index(f"ix_runs_{column}", "runs", [column])
    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_api_keys_name", "api_keys", ["name"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger "
            "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ledger_no_{action.lower()} BEFORE {action} ON ledger "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_append_only ON ledger")
        op.execute("DROP FUNCTION ledger_append_only()")
    for table in ("api_keys", "runs", "portfolios", "ledger_head", "ledger"):
        op.drop_table(table)
