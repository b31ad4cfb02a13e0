"""The app's insight pages (issue 15) through TestClient: the actuals and outcomes forms and
upload (bad input named, the value kept, nothing stored), and the investment, calibration and
contribution reports with their plots, worked out off the request, each figure with its sample
size and its period, a figure without data shown as missing.

One app over a real SQLite file with one real worker process; the sample portfolio imported
and one weekly run solved (1 s), shared by the module's tests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from test_web_pages import SAMPLE, Web

from allocator.api import create_app
from allocator.insight.records import iso_week, week_after
from allocator.service.keys import DEFAULT_TEAM, Role, hash_key, new_key
from allocator.service.runs import RunFilter
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.service


@contextmanager
def sample_web(folder: Path, roles: dict[str, Role | tuple[Role, str]]) -> Iterator[Web]:
    """The app over a new SQLite file in `folder` with a key per role (of the default team,
    or of the team given with it), one worker, the sample imported through the import form
    by `planner` and run 1 solved (1 s)."""
    url = f"sqlite:///{folder / 'web.db'}"
    store = Store(url)
    store.migrate()
    keys = {}
    for name, given in roles.items():
        role, team = given if isinstance(given, tuple) else (given, DEFAULT_TEAM)
        keys[name] = new_key()
        store.add_key(name, role, hash_key(keys[name]), team=team)
    store.close()
    app = create_app(Settings(database_url=url, workers=1, poll_seconds=0.1))
    with TestClient(app):
        web = Web(app, keys)
        files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in SAMPLE.iterdir()]
        imported = web.client("planner").post(
            "/app/import", data={"csrf": web.csrf("planner")}, files=files, follow_redirects=False
        )
        assert imported.status_code == 303, imported.text
        web.post("planner", "/app/runs", time_limit="1")
        web.wait(1)
        yield web


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    roles: dict[str, Role | tuple[Role, str]] = {
        "planner": Role.PLANNER,
        "viewer": Role.VIEWER,
        "sam": Role.REQUESTER,
        "emil": (Role.PLANNER, "emea"),
    }
    with sample_web(tmp_path_factory.mktemp("insight"), roles) as web:
        yield web


def imports(web: Web) -> str:
    """The page's count of stored imports of each kind."""
    page = web.client("planner").get("/app/actuals")
    assert page.status_code == 200
    found = re.search(r"Stored so far: (\d+) import.*?, (\d+) of outcomes", page.text)
    assert found is not None
    return found.group(0)


def report(web: Web, path: str, who: str = "planner") -> str:
    """The report's part once computed (the desk works it out in the background)."""
    for _ in range(200):
        answer = web.client(who).get(path)
        assert answer.status_code == 200, answer.text
        if "is being computed" not in answer.text:
            return str(answer.text)
        time.sleep(0.1)
    raise AssertionError(f"{path} was not computed")


@pytest.mark.parametrize(
    ("fields", "named", "kept"),
    [
        ({"engineer_id": "ENG-0001", "opportunity_id": "OPP-00001", "week": "2026-W49",
          "hours": "lots"}, "hours", 'value="lots"'),
        ({"engineer_id": "ENG-0001", "opportunity_id": "OPP-00001", "week": "2026-49",
          "hours": "4"}, "week", 'value="2026-49"'),
        ({"engineer_id": "ENG-9999", "opportunity_id": "OPP-00001", "week": "2026-W49",
          "hours": "4"}, "engineer_id", 'value="ENG-9999"'),
        ({"engineer_id": "ENG-0001", "opportunity_id": "OPP-00001", "week": "2026-W49",
          "hours": "200"}, "hours", 'value="200"'),
        ({"engineer_id": "", "opportunity_id": "", "week": "", "hours": ""}, "engineer_id", ""),
        ({"o-opportunity_id": "OPP-00001", "o-outcome": "won", "o-value": "",
          "o-date": "2026-11-30"}, "o-value", 'value="OPP-00001"'),
        ({"o-opportunity_id": "OPP-77777", "o-outcome": "lost", "o-value": "",
          "o-date": "2026-11-30"}, "o-opportunity_id", 'value="OPP-77777"'),
        ({"o-opportunity_id": "OPP-00001", "o-outcome": "maybe", "o-value": "",
          "o-date": "2026-11-30"}, "o-outcome", ""),
        ({"o-opportunity_id": "OPP-00001", "o-outcome": "lost", "o-value": "",
          "o-date": "30/11/2026"}, "o-date", 'value="30/11/2026"'),
    ],
)  # fmt: skip
def test_a_bad_entry_names_its_field_keeps_the_value_and_stores_nothing(
    web: Web, fields: dict[str, str], named: str, kept: str
) -> None:
    before = imports(web)
    url = "/app/outcomes" if named.startswith("o-") else "/app/actuals"
    answer = web.post("planner", url, **fields)
    assert answer.status_code == 422, answer.text
    assert f'href="#f-{named}"' in answer.text
    assert f'id="f-{named}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert kept in answer.text
    assert imports(web) == before


def test_a_bad_upload_shows_the_problem_table_and_stores_nothing(web: Web) -> None:
    before = imports(web)
    body = (
        b"engineer_id,opportunity_id,week,hours\nENG-0001,OPP-00001,2026-W49,4\n"
        b",OPP-00002,2026-W49,-3\n"
    )
    answer = web.client("planner").post(
        "/app/actuals/upload",
        data={"csrf": web.csrf("planner"), "kind": "actuals"},
        files={"file": ("week49.csv", body, "text/csv")},
    )
    assert answer.status_code == 422
    table = answer.text.split('id="problems"')[1]
    assert "week49.csv row 3" in table and "engineer_id" in table and "hours" in table
    assert "-3" in table and "Nothing was stored" in answer.text
    wrong = web.client("planner").post(
        "/app/actuals/upload",
        data={"csrf": web.csrf("planner"), "kind": "outcomes"},
        files={"file": ("notes.txt", b"x", "text/plain")},
    )
    assert wrong.status_code == 422 and "must be a .csv or .xlsx file" in wrong.text
    assert 'value="outcomes" selected' in wrong.text
    missing = web.client("planner").post(
        "/app/actuals/upload",
        data={"csrf": web.csrf("planner"), "kind": "outcomes"},
        files={"file": ("outcomes.csv", body, "text/csv")},
    )
    assert missing.status_code == 422 and "missing column(s): outcome, value, date" in missing.text
    assert imports(web) == before


def test_roles_as_the_api(web: Web) -> None:
    viewer = web.client("viewer")
    assert viewer.get("/app/actuals").status_code == 200
    assert 'action="/app/actuals"' not in viewer.get("/app/actuals").text
    refused = web.post("viewer", "/app/actuals", engineer_id="ENG-0001", hours="1")
    assert refused.status_code == 403
    assert web.post("viewer", "/app/outcomes").status_code == 403
    assert web.post("viewer", "/app/actuals/upload", kind="actuals").status_code == 403
    sam = web.client("sam")
    for path in ("/app/actuals", "/app/reports/investment", "/app/reports/calibration.png"):
        assert sam.get(path).status_code == 403, path
    forged = web.client("planner").post("/app/actuals", data={"csrf": "forged"})
    assert forged.status_code == 403


def test_entries_and_uploads_feed_the_reports_with_n_period_and_missing(web: Web) -> None:
    """Hand-computed: OPP-00001 won 100,000 with 10 h of ENG-0001; OPP-00002 lost with none;
    OPP-00003 won 50,000 with none. All opportunities: decided 3; with presales hours 1 of 1
    won (n=1); without, 1 of 2 (Wilson 0.50 [0.09-0.91], n=2); value won per hour 10,000."""
    answer = web.post(
        "planner",
        "/app/actuals",
        engineer_id="ENG-0001",
        opportunity_id="OPP-00001",
        week="2026-W49",
        hours="10",
    )
    assert answer.status_code == 200 and "Stored 1 row of actuals from form" in answer.text
    stored = web.post(
        "planner",
        "/app/outcomes",
        **{"o-opportunity_id": "OPP-00001", "o-outcome": "won", "o-value": "100000",
           "o-date": "2026-11-30"},
    )  # fmt: skip
    assert stored.status_code == 200 and "Stored 1 row of outcomes" in stored.text
    upload = web.client("planner").post(
        "/app/actuals/upload",
        data={"csrf": web.csrf("planner"), "kind": "outcomes"},
        files={
            "file": (
                "crm.csv",
                b"opportunity_id,outcome,value,date\nOPP-00002,lost,,2026-11-20\n"
                b"OPP-00003,won,50000,2026-11-25\n",
                "text/csv",
            )
        },
    )
    assert upload.status_code == 200 and "Stored 2 rows of outcomes from crm.csv" in upload.text

    page = web.client("planner").get("/app/reports/investment?by=tier")
    assert page.status_code == 200 and 'id="report"' in page.text
    part = report(web, "/app/reports/investment/part?by=tier")
    assert "actuals 2026-W49..2026-W49 (1 weeks)" in part
    assert "outcomes decided 2026-11-20..2026-11-30" in part
    everything = part.split('<th scope="row">all</th>')[1].split("</tr>")[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", everything, re.S)
    assert cells[:4] == ["200", "3", "1", "2"]  # opportunities, decided, supported, won
    assert "1.00" in cells[8] and "n=1" in cells[8]
    assert "0.50 <small>[0.09-0.91]</small> <small>n=2</small>" in cells[9]
    assert "10,000" in cells[10] and "n=1" in cells[10]
    assert "missing" in part  # A tier without decided opportunities: missing, not 0.
    plot = web.client("planner").get("/app/reports/investment.png?by=tier")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(b"\x89PNG")

    calibration = report(web, "/app/reports/calibration/part?by=stage")
    assert "3 decided opportunities" in calibration and 'id="calibration-bin"' in calibration
    assert web.client("viewer").get("/app/reports/calibration.png").status_code in (200, 409)

    contribution = report(web, "/app/reports/contribution/part?q=ENG-0001&engineer=ENG-0001")
    row = contribution.split('id="contribution"')[1]
    assert "ENG-0001" in row and "ENG-0002" not in row
    detail = contribution.split('id="by-opportunity"')[1].split("</table>")[0]
    assert "OPP-00001" in detail and "100,000" in detail
    assert 'src="/app/reports/contribution.png"' in contribution
    drawn = web.client("viewer").get("/app/reports/contribution.png")
    assert drawn.status_code == 200 and drawn.content.startswith(b"\x89PNG")

    web.post(
        "planner",
        "/app/actuals",
        engineer_id="ENG-0002",
        opportunity_id="OPP-00003",
        week="2026-W49",
        hours="5",
    )
    again = report(web, "/app/reports/investment/part?by=tier")  # A new import: afresh.
    everything = again.split('<th scope="row">all</th>')[1].split("</tr>")[0]
    assert re.findall(r"<td[^>]*>(.*?)</td>", everything, re.S)[2] == "2"


def test_a_report_being_computed_polls_and_reloads_without_javascript(web: Web) -> None:
    web.post(
        "planner",
        "/app/actuals",
        engineer_id="ENG-0003",
        opportunity_id="OPP-00004",
        week="2026-W48",
        hours="2",
    )
    first = web.client("viewer").get("/app/reports/investment?by=region")
    assert first.status_code == 200
    if "is being computed" in first.text:
        assert 'hx-trigger="every 1s"' in first.text
        assert 'href="/app/reports/investment?by=region' in first.text
    assert "Period:" in report(web, "/app/reports/investment/part?by=region", "viewer")


def test_an_unknown_report_or_grouping(web: Web) -> None:
    client: Any = web.client("planner")
    unknown = client.get("/app/reports/fortune")
    assert unknown.status_code == 404 and "there are investment, calibration" in unknown.text
    assert client.get("/app/reports/fortune.png").status_code == 404
    assert (
        "/app/reports/investment"
        in client.get("/app/reports", follow_redirects=False).headers["location"]
    )
    shown = report(web, "/app/reports/investment/part?by=nonsense")
    assert "by stage" in shown  # An unknown grouping falls back to the first.


def test_the_run_page_draws_the_progress_curve_the_worker_recorded(web: Web) -> None:
    run = web.app.state.service.get_run(1)
    assert run.trail and all(t >= 0 for t, _, _ in run.trail)
    page = web.client("viewer").get("/app/runs/1").text
    assert '<svg id="curve"' in page and "seconds of search" in page
    assert 'class="objective" points="' in page
    assert f"({len(run.trail)} points over" in page


EMEA_OUTCOMES = b"opportunity_id,outcome,value,date\nOPP-00150,won,5,2026-11-02\n"


def test_another_teams_actuals_and_outcomes_stay_out_of_the_reports(web: Web) -> None:
    """Team emea has no plan yet: its reports say so, its form has no plan to check against;
    what it uploads is stored under its team and never counted in the default team's."""
    emil = web.client("emil")
    empty = emil.get("/app/reports/investment/part").text
    assert "No investment report" in empty and "emea" in empty
    refused = web.post("emil", "/app/actuals", engineer_id="ENG-0001", opportunity_id="OPP-00001",
                       week="2026-W49", hours="3")  # fmt: skip
    assert refused.status_code == 409 and "emea" in refused.text
    before = report(web, "/app/reports/investment/part?by=tier")
    decided = before.split('<th scope="row">all</th>')[1].split("</tr>")[0]
    uploaded = emil.post(
        "/app/actuals/upload",
        data={"csrf": web.csrf("emil"), "kind": "outcomes"},
        files={"file": ("emea.csv", EMEA_OUTCOMES, "text/csv")},
    )
    assert uploaded.status_code == 200 and "Stored 1 row of outcomes" in uploaded.text
    after = report(web, "/app/reports/investment/part?by=tier")  # Recomputed: a new import.
    assert after.split('<th scope="row">all</th>')[1].split("</tr>")[0] == decided
    assert "2026-11-02" not in after


def test_a_weekly_run_can_take_in_the_recorded_actuals(tmp_path: Path) -> None:
    """The weekly-run form's switch: last week's recorded actuals are read against the team's
    finished weekly runs (hours beyond the plan count as committed, the engineer flagged, in
    the run's accepted record); a team with no finished weekly run gets the switch named and
    nothing queued."""
    roles: dict[str, Role | tuple[Role, str]] = {
        "planner": Role.PLANNER,
        "emil": (Role.PLANNER, "emea"),
    }
    with sample_web(tmp_path, roles) as web:
        service = web.app.state.service
        portfolio = service.accepted(1).portfolio
        read = week_after(portfolio.horizon_start or iso_week(datetime.now(UTC)), -1)
        stored = web.post(
            "planner",
            "/app/actuals",
            engineer_id="ENG-0001",
            opportunity_id="OPP-00001",
            week=read,
            hours="30",
        )
        assert stored.status_code in (200, 303), stored.text

        refused = web.post("emil", "/app/runs", time_limit="1", apply_actuals="on")
        assert refused.status_code == 422
        assert 'href="#f-apply_actuals"' in refused.text and "no weekly run" in refused.text
        assert "checked" in refused.text  # The switch kept as it was sent.
        assert service.list_runs(RunFilter())[1] == 1  # Nothing queued.

        sent = web.post("planner", "/app/runs", time_limit="1", apply_actuals="on")
        assert sent.status_code == 303 and sent.headers["location"] == "/app/runs/2"
        fed = service.accepted(2)
        applied = fed.overrides["apply_actuals"]
        flagged = {flag["engineer_id"]: flag for flag in applied["flags"]}
        assert flagged["ENG-0001"]["week"] == read
        before = portfolio.engineer_by_id()["ENG-0001"].committed_hours
        assert fed.portfolio.engineer_by_id()["ENG-0001"].committed_hours > before
        plain = web.post("planner", "/app/runs", time_limit="1")
        assert plain.status_code == 303
        assert "apply_actuals" not in service.accepted(3).overrides
