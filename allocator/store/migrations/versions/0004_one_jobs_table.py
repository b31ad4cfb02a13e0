"""One jobs table for every kind of background work: runs and scenario sets move into `jobs`
(kind, number within the kind, status, attempt, lease, progress, cancel flag, ledger
pointers); explanations that re-solve are jobs too. Numbers are kept, so every URL and every
ledger record's subject still names the same run or set. `runs` and `scenario_sets` stay as
read-only views over `jobs` for whoever queried them by hand.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")

RUNS_VIEW = """
CREATE VIEW runs AS SELECT
    number AS id, status, week, submitted_by, submitted_at, started_at, finished_at,
    portfolio_id, time_limit, attempt, worker, cancel_requested, result_status AS solve_status,
    objective, message, accepted_seq, finished_seq
FROM jobs WHERE kind = 'run'
"""
SCENARIO_SETS_VIEW = """
CREATE VIEW scenario_sets AS SELECT
    number AS id, status, submitted_by, submitted_at, started_at, finished_at, portfolio_id,
    time_limit, attempt, worker, message, accepted_seq, finished_seq
FROM jobs WHERE kind = 'scenario_set'
"""


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True)


def _progress(row: Any) -> str | None:
    fields = {
        "best_objective": row.get("best_objective"),
        "best_bound": row.get("best_bound"),
        "gap": row.get("gap"),
        "seconds": row.get("progress_seconds"),
        "done": row.get("solves_done"),
        "total": row.get("solves_total"),
    }
    given = {k: v for k, v in fields.items() if v is not None}
    return _dumps(given) if given else None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("submitted_by", sa.String(200), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("time_limit", sa.Float, nullable=False),
        sa.Column("week", sa.String(10)),
        sa.Column("portfolio_id", sa.BigInteger),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(100), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("progress", sa.Text),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("result_status", sa.String(16)),
        sa.Column("objective", sa.Float),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("accepted_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("finished_seq", sa.BigInteger, sa.ForeignKey("ledger.seq")),
        sa.Column("inputs", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.UniqueConstraint("kind", "number", name="uq_jobs_kind_number"),
    )
    for column in ("status", "submitted_by", "week", "portfolio_id"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])

    bind = op.get_bind()
    names = [column["name"] for column in sa.inspect(bind).get_columns("jobs")]
    jobs = sa.table("jobs", *(sa.column(name) for name in names))
    moved: list[dict[str, Any]] = []
    for row in bind.execute(sa.text("SELECT * FROM runs ORDER BY id")).mappings():
        summary = {
            "week": row["week"],
            "portfolio_id": row["portfolio_id"],
            "portfolio_name": row["portfolio_name"],
            "previous_run_id": row["previous_run_id"],
            "time_limit": row["time_limit"],
            "seed": row["seed"],
        }
        moved.append(
            {
                "kind": "run",
                "number": row["id"],
                "priority": 1,
                "week": row["week"],
                "portfolio_id": row["portfolio_id"],
                "cancel_requested": row["cancel_requested"],
                "result_status": row["solve_status"],
                "objective": row["objective"],
                "progress": _progress(row),
                "summary": _dumps(summary),
                **_common(row),
            }
        )
    for row in bind.execute(sa.text("SELECT * FROM scenario_sets ORDER BY id")).mappings():
        summary = {
            "set_kind": row["kind"],
            "portfolio_id": row["portfolio_id"],
            "base_run_id": row["base_run_id"],
            "portfolio_name": row["portfolio_name"],
            "scenarios": row["scenarios"],
            "time_limit": row["time_limit"],
            "seed": row["seed"],
        }
        moved.append(
            {
                "kind": "scenario_set",
                "number": row["id"],
                "priority": 1,
                "week": None,
                "portfolio_id": row["portfolio_id"],
                "cancel_requested": False,
                "result_status": None,
                "objective": None,
                "progress": _progress(row),
                "summary": _dumps(summary),
                **_common(row),
            }
        )
    if moved:
        op.bulk_insert(jobs, moved)
    op.drop_table("scenario_sets")
    op.drop_table("runs")
    op.execute(RUNS_VIEW)
    op.execute(SCENARIO_SETS_VIEW)


def _common(row: Any) -> dict[str, Any]:
    return {
        "status": row["status"],
        "submitted_by": row["submitted_by"],
        "submitted_at": row["submitted_at"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "time_limit": row["time_limit"],
        "attempt": row["attempt"],
        "worker": row["worker"],
        "lease_until": None,
        "message": row["message"],
        "accepted_seq": row["accepted_seq"],
        "finished_seq": row["finished_seq"],
        "inputs": None,
        "outcome": None,
    }


def downgrade() -> None:
    raise NotImplementedError("the jobs table is not split back into runs and scenario sets")
