"""Keys sealed in the ledger, and teams: every API key gets a `key_created` ledger record (name,
role, team, hash; `key_revoked` for a revoked one), so that a role raised in the database is
found by verify and refused at login; keys, jobs and portfolios get a `team` (existing ones:
`default`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from allocator.service import ledger

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DEFAULT_TEAM = "default"


def upgrade() -> None:
    for table in ("api_keys", "jobs", "portfolios"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("team", sa.String(100), nullable=False, server_default=DEFAULT_TEAM)
            )
    op.create_index("ix_jobs_team", "jobs", ["team"])
    op.create_index("ix_portfolios_team", "portfolios", ["team"])
    _seal_keys()


def _seal_keys() -> None:
    """Append a key_created (and key_revoked) record for every existing key, in id order."""
    bind = op.get_bind()
    head = bind.execute(sa.text("SELECT seq, sha256 FROM ledger_head WHERE id = 1")).one()
    seq, prev = int(head.seq), str(head.sha256)
    keys = bind.execute(
        sa.text("SELECT id, name, role, key_sha256, revoked_at FROM api_keys ORDER BY id")
    ).all()
    at = datetime.now(UTC).isoformat()
    insert = sa.text(
        "INSERT INTO ledger (seq, kind, subject_id, actor, recorded_at, content, "
        "content_sha256, prev_sha256, sha256) VALUES (:seq, :kind, :subject_id, :actor, "
        ":recorded_at, :content, :content_sha256, :prev_sha256, :sha256)"
    )
    for key in keys:
        contents = [
            (
                "key_created",
                {
                    "name": key.name,
                    "role": key.role,
                    "team": DEFAULT_TEAM,
                    "key_sha256": key.key_sha256,
                },
            )
        ]
        if key.revoked_at is not None:
            contents.append(("key_revoked", {"name": key.name}))
        for kind, content in contents:
            seq += 1
            record = ledger.seal(
                seq, kind, key.id, "migration", at, ledger.canonical(content), prev
            )
            bind.execute(insert, record.__dict__)
            prev = record.sha256
    if keys:
        bind.execute(
            sa.text("UPDATE ledger_head SET seq = :seq, sha256 = :sha WHERE id = 1"),
            {"seq": seq, "sha": prev},
        )


def downgrade() -> None:
    raise NotImplementedError("sealed records are not taken out of the ledger")
