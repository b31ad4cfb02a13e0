"""`allocator generate-history`, `allocator report ...` and `allocator import ...` in-process:
the reports print their period and intervals, write JSON and PNG, bad input exits 2 with one
line, and imports land in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clikit import invoke

from allocator.core.generate import generate
from allocator.io.formats import write_portfolio_csv
from allocator.store.repository import Store


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("insight")
    write_portfolio_csv(generate(10, 40, seed=3), root / "portfolio")
    done = invoke(
        "generate-history", root / "portfolio", "--out", root / "h", "--weeks", "3",
        "--time-limit", "1", "--bias", "stage=proposal:0.5", "--support-lift", "0.2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 runs" in done.stdout
    return root / "h"


def test_the_reports_print_write_json_and_plots(history: Path, tmp_path: Path) -> None:
    done = invoke(
        "report", "investment", history, "--by", "tier", "--json", tmp_path / "i.json",
        "--png", tmp_path / "i.png",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "actuals 2026-W36..2026-W38 (3 weeks)" in done.stdout
    method = " ".join(done.stdout.split())
    assert "Wilson score interval" in method and "percentile bootstrap" in method
    report = json.loads((tmp_path / "i.json").read_text())
    assert [r["level"] for r in report["rows"]] == ["all", "A", "B", "C"]
    assert (tmp_path / "i.png").read_bytes().startswith(b"\x89PNG")
    done = invoke("report", "calibration", history, "--png", tmp_path / "c.png")
    assert done.returncode == 0 and "Calibration (" in done.stdout  # Columns may wrap.
    assert (tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
    done = invoke("report", "contribution", history, "--engineer", "ENG-0001")
    assert done.returncode == 0 and "ENG-0001 by opportunity" in done.stdout
    assert "No single score" in " ".join(done.stdout.split())  # The method, however wrapped.
    done = invoke("report", "ratios", history, "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    scopes = [r["scope"] for r in json.loads((tmp_path / "r.json").read_text())["rows"]]
    assert "region East" in scopes and "industry finance" in scopes
    done = invoke("report", "feed", history, "--week", "2026-W39", "--out", tmp_path / "next")
    assert done.returncode == 0 and (tmp_path / "next" / "engineers.csv").exists()


def test_bad_input_exits_2_with_one_line(history: Path, tmp_path: Path) -> None:
    done = invoke("report", "investment", history, "--by", "colour")
    assert (done.returncode, done.stderr.strip()) == (
        2,
        "error: --by: must be one of all, stage, industry, region, tier, opportunity "
        "(got 'colour')",
    )
    done = invoke("report", "contribution", tmp_path / "nothing")
    assert done.returncode == 2 and "is not a history folder" in done.stderr
    done = invoke("report", "feed", history, "--week", "39", "--out", tmp_path / "x")
    assert done.returncode == 2 and "--week: must be an ISO week" in done.stderr


def test_imports_go_to_the_ledger(
    history: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    done = invoke("import", "actuals", history / "actuals.csv")
    assert done.returncode == 0, done.stderr
    assert "as actuals import 1 (ledger record 1)" in " ".join(done.stdout.split())
    bad = tmp_path / "outcomes.csv"
    bad.write_text("opportunity_id,outcome,value,date\nOPP-00001,won,,2026-09-01\n")
    done = invoke("import", "outcomes", bad)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == "error: outcomes.csv row 2, column value: a won deal needs the value won"
    )
    store = Store(url)
    try:
        verdict = store.verify_ledger()
        assert (verdict.ok, verdict.records) == (True, 1)
    finally:
        store.close()
