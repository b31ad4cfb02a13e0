"""A stored portfolio's summary (its content is a ledger record). Light, for the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PortfolioEntry:
    """A stored portfolio's summary; its content is kept in the ledger."""

    id: int
    name: str
    engineers: int
    opportunities: int
    demands: int
    sha256: str
    created_by: str
    created_at: datetime
    team: str = "default"
    """The team of the key that uploaded it: only that team (and auditors) see it."""
