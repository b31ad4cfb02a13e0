"""Alembic environment: runs the migrations on the connection `Store.migrate()` hands over.

Also works from the `alembic` command line with `-x url=...` or `ALLOCATOR_DATABASE_URL`.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from allocator.store.repository import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
        "ALLOCATOR_DATABASE_URL", "sqlite:///./var/allocator.db"
    )
    with create_engine(url).begin() as fresh:
        _run(fresh)
