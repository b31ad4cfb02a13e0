"""The planning app's later screens in a real browser (Debian's Chromium through Playwright,
against a real `allocator serve`), as `test_web_browser.py` drives the first ones: the run's
progress curve, the drawer's contrast (htmx, without leaving the board), time off, the
actuals form (bad input first) and an outcomes upload, then the reports shown by htmx once
computed, with their plots; every new page passes axe-core without serious or critical
violations. Skipped, saying so, without Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_web_browser import AXE, CHROMIUM, WAIT, App, app, import_sample, run_the_week, served

__all__ = ["app", "served"]  # The fixtures, shared with the first browser tests.

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="browser tests need Chromium: apt-get install chromium (.ci/run installs it)",
    ),
]


def axe_problems(page: object, url: str) -> list[str]:
    page.goto(url)  # type: ignore[attr-defined]
    page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.add_script_tag(content=AXE.read_text())  # type: ignore[attr-defined]
    result = page.evaluate("async () => await axe.run(document)")  # type: ignore[attr-defined]
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:80]})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_planner_reads_the_curve_contrasts_enters_actuals_and_reads_reports(
    app: App, tmp_path: Path
) -> None:
    url = app.server.url
    page = app.sign_in("pat")
    import_sample(page, url)
    run = run_the_week(page, url)
    assert page.locator("#curve polyline.objective").count() == 1
    assert "seconds of search" in page.locator("#curve").text_content()

    page.goto(f"{url}/app/board")
    opportunities = page.locator("a.opp")
    first = opportunities.first.inner_text().strip()
    other = next(
        text
        for text in (opportunities.nth(i).inner_text().strip() for i in range(20))
        if text != first
    )
    opportunities.first.click()
    page.wait_for_selector("#drawer-title")
    page.locator("#contrast").get_by_label(f"Compare {first} with opportunity").fill("")
    page.locator("#contrast").get_by_role("button", name="Contrast").click()
    page.wait_for_selector("#contrast .alert")
    page.locator("#contrast").get_by_label(f"Compare {first} with opportunity").fill(other)
    page.locator("#contrast").get_by_role("button", name="Contrast").click()
    summary = page.wait_for_selector("#contrast-summary", timeout=WAIT).inner_text()
    assert summary.startswith(first) and other in summary
    assert page.url.endswith("/app/board")  # htmx: still on the board.

    page.goto(f"{url}/app/engineers/ENG-0001/time-off")
    page.get_by_label("From week").fill("2")
    page.get_by_label("Hours off each week").fill("16")
    page.get_by_role("button", name="Add (replaces those weeks' hours)").click()
    assert "16" in page.locator("#time-off").inner_text()

    page.goto(f"{url}/app/actuals")
    page.get_by_label("Engineer id").fill("ENG-0001")
    page.get_by_label("Opportunity id").first.fill(first)
    page.get_by_label("Hours spent that week").fill("-2")
    page.get_by_role("button", name="Store the hours").click()
    assert "hours" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Hours spent that week").input_value() == "-2"
    page.get_by_label("Hours spent that week").fill("6")
    page.get_by_role("button", name="Store the hours").click()
    assert "Stored 1 row of actuals" in page.locator("#stored").inner_text()
    outcomes = tmp_path / "crm-outcomes.csv"
    outcomes.write_text(
        f"opportunity_id,outcome,value,date\n{first},won,120000,2026-11-30\n"
        f"{other},lost,,2026-11-28\n"
    )
    page.get_by_label("The file holds").select_option("outcomes")
    page.get_by_label("File", exact=True).set_input_files(str(outcomes))
    page.get_by_role("button", name="Upload").click()
    assert "Stored 2 rows of outcomes" in page.locator("#stored").inner_text()

    page.goto(f"{url}/app/reports/investment")
    page.wait_for_selector("#investment", timeout=WAIT)  # htmx swaps it in once computed.
    assert "n=" in page.locator("#investment").inner_text()
    assert "Period:" in page.locator("#period").inner_text()
    page.wait_for_function(
        "() => document.querySelector('.plots img').naturalWidth > 0", timeout=WAIT
    )
    app.screenshot(page, "investment.png")

    found = {}
    for path in (
        f"/app/runs/{run}",
        "/app/actuals",
        "/app/reports/investment",
        "/app/reports/calibration",
        "/app/reports/contribution?engineer=ENG-0001",
        "/app/hiring",
        "/app/ratio-sweep",
        "/app/engineers/ENG-0001/time-off",
        f"/app/board/{run}/contrast?a={first}&b={other}",
    ):
        bad = axe_problems(page, f"{url}{path}")
        if bad:
            found[path] = bad
    assert not found, found
