"""The JSON Schemas in docs/ are the pydantic models' own: regenerate with `allocator schema`."""

from __future__ import annotations

import json
from pathlib import Path

from allocator.model import Allocation, Portfolio

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_portfolio_schema_is_current() -> None:
    written = json.loads((DOCS / "portfolio.schema.json").read_text())
    assert written == Portfolio.model_json_schema(), "run `allocator schema` and commit docs/"


def test_allocation_schema_is_current() -> None:
    written = json.loads((DOCS / "allocation.schema.json").read_text())
    assert written == Allocation.model_json_schema(), "run `allocator schema` and commit docs/"
