"""The command line of issue 15's leftovers: `allocator import actuals|outcomes --mapping`
(a timesheet and a CRM report of closed deals through their TOML mappings, into the service's
ledger) and `allocator solve --apply-actuals HISTORY` (a history folder's actuals taken in
before solving, the engineers flagged)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import invoke
from conftest import FAST, demand, engineer, make_portfolio, opportunity

from allocator.io.formats import write_allocation, write_portfolio_csv, write_portfolio_json
from allocator.solver import solve
from allocator.store.repository import Store

IMPORTS = Path(__file__).resolve().parents[1] / "data" / "imports"


@pytest.mark.service  # The service's SQLite store.
def test_mapped_imports_go_to_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    done = invoke(
        "import", "actuals", IMPORTS / "timesheet.csv", "--mapping", IMPORTS / "timesheet.toml"
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "timesheet.csv: 12 rows read, 12 imported, 0 left out" in text
    assert "Imported 9 actuals rows from timesheet.csv" in text
    deals = ("import", "outcomes", IMPORTS / "salesforce-closed-deals.csv")
    done = invoke(*deals, "--mapping", IMPORTS / "salesforce-outcomes.toml")
    assert done.returncode == 0, done.stderr
    assert "Imported 6 outcomes rows" in " ".join(done.stdout.split())
    wrong = invoke(*deals, "--mapping", IMPORTS / "timesheet.toml")
    assert (wrong.returncode, wrong.stderr.strip()) == (
        2,
        "error: --mapping, field kind: is not 'outcomes' (got 'actuals')",
    )
    store = Store(url)
    try:
        verdict = store.verify_ledger()
        assert (verdict.ok, verdict.records) == (True, 2)
    finally:
        store.close()


def test_solve_applies_a_history_s_actuals_when_asked(tmp_path: Path) -> None:
    p = make_portfolio(
        [engineer("E1", {"a": 4})],
        [opportunity("O1")],
        [demand("O1", "a", hours=8, end_week=2)],
        horizon_weeks=2,
        horizon_start="2026-W11",
    )
    history = tmp_path / "h"
    write_portfolio_csv(p, history / "portfolio")
    plan = solve(p.model_copy(update={"horizon_start": "2026-W10"}), FAST)
    write_allocation(plan, history / "runs" / "2026-W10.json")
    (history / "actuals.csv").write_text(
        "engineer_id,opportunity_id,week,hours\nE1,O1,2026-W10,14\n"
    )
    write_portfolio_json(p, tmp_path / "next.json")
    done = invoke(
        "solve", tmp_path / "next.json", "--apply-actuals", history, "--out", tmp_path / "r.json"
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "E1: over_plan in 2026-W10 (planned 8 h, 14 h); committed 0 -> 6 h/week" in text
    undated = tmp_path / "undated.json"
    write_portfolio_json(p.model_copy(update={"horizon_start": None}), undated)
    done = invoke("solve", undated, "--apply-actuals", history)
    assert done.returncode == 2
    assert "needs --week (the ISO week the run starts)" in done.stderr
    done = invoke("solve", undated, "--apply-actuals", history, "--week", "39")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: --week: must be an ISO week like 2026-W45 (got '39')",
    )
