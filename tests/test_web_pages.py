"""The planning web app through TestClient: every page and form, for each role, with bad input
answered by the field's name and the value kept, and nothing stored changed.

One app over a real SQLite file with one real worker process; the sample portfolio imported
through the import form and one weekly run solved (1 s) are shared by the module's tests.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from test_run_comparison import refuse_solvers

from allocator.api import create_app
from allocator.service.keys import Role, hash_key, new_key
from allocator.service.settings import Settings
from allocator.store.repository import Store
from allocator.web.pages.board import band

pytestmark = pytest.mark.service

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class Web:
    """The app and one signed-in client per role."""

    def __init__(self, app: Any, keys: dict[str, str]) -> None:
        self.app = app
        self.keys = keys
        self.clients: dict[str, TestClient] = {}

    def client(self, name: str) -> TestClient:
        if name not in self.clients:
            client = TestClient(self.app)
            signed = client.post("/app/signin", data={"key": self.keys[name], "next": "/app"})
            assert signed.status_code == 200, signed.text
            self.clients[name] = client
        return self.clients[name]

    def csrf(self, name: str) -> str:
        found = CSRF.search(self.client(name).get("/app").text)
        assert found is not None
        return found.group(1)

    def post(self, name: str, url: str, **data: Any) -> Any:
        return self.client(name).post(
            url, data={"csrf": self.csrf(name), **data}, follow_redirects=False
        )

    def wait(self, run_id: int) -> None:
        for _ in range(240):
            if "s-done" in self.client("planner").get(f"/app/runs/{run_id}/progress").text:
                return
            time.sleep(0.25)
        raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    store = Store(url)
    store.migrate()
    keys = {}
    for name, role in (
        ("planner", Role.PLANNER),
        ("viewer", Role.VIEWER),
        ("auditor", Role.AUDITOR),
        ("sam", Role.REQUESTER),
        ("rita", Role.REQUESTER),
    ):
        keys[name] = new_key()
        store.add_key(name, role, hash_key(keys[name]))
    store.close()
    app = create_app(Settings(database_url=url, workers=1, poll_seconds=0.1))
    with TestClient(app) as lifespan:
        web = Web(app, keys)
        files = [("files", (p.name, p.read_bytes(), "text/csv")) for p in SAMPLE.iterdir()]
        imported = web.client("planner").post(
            "/app/import", data={"csrf": web.csrf("planner")}, files=files, follow_redirects=False
        )
        assert imported.status_code == 303, imported.text
        run = web.post("planner", "/app/runs", time_limit="1")
        assert run.headers["location"] == "/app/runs/1"
        web.wait(1)
        yield web
        del lifespan


def test_pages_need_a_session_and_htmx_is_told_where_to_go(web: Web) -> None:
    anonymous = TestClient(web.app)
    answer = anonymous.get("/app/board", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/app/signin?next=%2Fapp%2Fboard"
    fragment = anonymous.get("/app/runs/1/progress", headers={"HX-Request": "true"})
    assert fragment.status_code == 204 and fragment.headers["HX-Redirect"] == "/app/signin"
    assert anonymous.get("/").status_code == 200  # / -> /app -> the sign-in page.


def test_sign_in_with_a_bad_key_names_the_field_and_keeps_the_value(web: Web) -> None:
    client = TestClient(web.app)
    answer = client.post("/app/signin", data={"key": "alk_wrong", "next": "/app/board"})
    assert answer.status_code == 401
    assert "API key is not known" in answer.text and 'value="alk_wrong"' in answer.text
    assert 'value="/app/board"' in answer.text
    empty = client.post("/app/signin", data={"key": ""})
    assert empty.status_code == 401 and "API key is needed" in empty.text
    away = client.post(
        "/app/signin",
        data={"key": web.keys["viewer"], "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert away.headers["location"] == "/app"


def test_each_role_lands_on_its_page_and_sign_out_needs_the_token(web: Web) -> None:
    for name, home in (("sam", "/app/requests"), ("auditor", "/app/audit"), ("viewer", "/app")):
        client = TestClient(web.app)
        answer = client.post(
            "/app/signin", data={"key": web.keys[name], "next": "/app"}, follow_redirects=False
        )
        assert answer.headers["location"] == home
        assert "httponly" in answer.headers["set-cookie"].lower()
        assert "samesite=strict" in answer.headers["set-cookie"].lower()
    client = TestClient(web.app)
    client.post("/app/signin", data={"key": web.keys["viewer"]})
    assert client.post("/app/signout", data={"csrf": "forged"}).status_code == 403
    token = CSRF.search(client.get("/app").text)
    assert token is not None
    out = client.post("/app/signout", data={"csrf": token.group(1)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/app", follow_redirects=False).status_code == 303


def test_api_documentation_is_served_from_local_files(web: Web) -> None:
    client = TestClient(web.app)
    swagger = client.get("/docs").text
    assert "/static/vendor/swagger/swagger-ui-bundle.js" in swagger and "cdn" not in swagger
    redoc = client.get("/redoc").text
    assert "/static/vendor/redoc/redoc.standalone.js" in redoc and "fonts.googleapis" not in redoc
    for asset in (
        "/static/vendor/swagger/swagger-ui-bundle.js",
        "/static/vendor/swagger/swagger-ui.css",
        "/static/vendor/redoc/redoc.standalone.js",
        "/static/vendor/htmx.min.js",
        "/static/app.css",
    ):
        assert client.get(asset).status_code == 200, asset


@pytest.mark.parametrize(
    "page",
    [
        "/app",
        "/app/pipeline",
        "/app/pipeline?q=OPP-0001&tier=A&sort=-value&page=2",
        "/app/team",
        "/app/team?skill=architect&sort=-free",
        "/app/runs",
        "/app/runs/1",
        "/app/runs/1/progress",
        "/app/runs/1/summary",
        "/app/board",
        "/app/board?run=1&region=North&page=2",
        "/app/requests",
        "/app/fairness",
        "/app/fairness?run=1",
        "/app/whatif",
        "/app/import",
        "/app/engineers/ENG-0001/edit",
        "/app/opportunities/OPP-00001/edit",
        "/app/export.json",
        "/app/audit/runs/1/inputs.json",
        "/app/audit/runs/1/result.json",
    ],
)
def test_every_planner_page_renders(web: Web, page: str) -> None:
    answer = web.client("planner").get(page)
    assert answer.status_code == 200, answer.text[:500]


def test_the_summary_stands_next_to_the_status_quo_and_the_greedy(web: Web) -> None:
    text = web.client("viewer").get("/app/runs/1/summary").text
    for label in ("this run", "seniority first", "first come, first served", "greedy"):
        assert label in text


def test_fairness_stands_next_to_the_status_quo(web: Web) -> None:
    text = web.client("viewer").get("/app/fairness?run=1").text
    for title in ("Requester seniority quartile", "Region", "Industry", "Customer tier"):
        assert f"<h2>{title}</h2>" in text
    assert "Status quo (seniority_first)" in text
    missing = web.client("viewer").get("/app/fairness?run=999")
    assert missing.status_code == 404 and "999" in missing.text


def test_the_summary_and_fairness_pages_solve_nothing_in_the_server(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baselines and fairness' status quo come with the run from its worker process: with
    every solver (and the baselines' greedy) refusing to run in this process, both pages show
    them."""
    refuse_solvers(monkeypatch)
    web.app.state.workspace._fairness.clear()  # Nothing kept from an earlier view.
    summary = web.client("viewer").get("/app/runs/1/summary")
    assert summary.status_code == 200 and "seniority first" in summary.text
    assert "not computed" not in summary.text
    fairness = web.client("viewer").get("/app/fairness?run=1")
    assert fairness.status_code == 200 and "Status quo (seniority_first)" in fairness.text


@pytest.mark.parametrize("page", ["/app/runs/1", "/app/board?run=1"])
def test_the_drawers_look_ups_are_built_before_one_is_opened(web: Web, page: str) -> None:
    workspace = web.app.state.workspace
    workspace._explained.clear()
    assert web.client("viewer").get(page).status_code == 200
    for _ in range(200):  # Built by a background thread of the server.
        if 1 in workspace._explained:
            break
        time.sleep(0.05)
    assert 1 in workspace._explained
    drawer = web.client("viewer").get(f"/app/board/1/explain/{first_opportunity(web)}")
    assert drawer.status_code == 200


def first_opportunity(web: Web) -> str:
    found = re.search(r"/explain/([^\"]+)\"", web.client("viewer").get("/app/board?run=1").text)
    assert found is not None
    return found.group(1)


def test_a_runs_plan_downloads_as_the_workbook_and_the_crm_csv(web: Web) -> None:
    client = web.client("viewer")
    assert "/app/runs/1/plan.xlsx" in client.get("/app/runs/1/progress").text
    workbook = client.get("/app/runs/1/plan.xlsx")
    assert workbook.status_code == 200, workbook.text[:300]
    assert 'filename="run-1-plan.xlsx"' in workbook.headers["content-disposition"]
    sheets = load_workbook(io.BytesIO(workbook.content), read_only=True).sheetnames
    assert {"By engineer", "By opportunity", "Unstaffed"} <= set(sheets)
    crm = client.get("/app/runs/1/plan.csv")
    assert crm.status_code == 200 and crm.text.splitlines()[0].startswith("crm_id")
    # Unstaffed opportunities say why in words (the run's look-ups), not the generic text.
    reasons = [r["reason"] for r in csv.DictReader(io.StringIO(crm.text)) if r["staffed"] == "no"]
    assert reasons and any(" is taken: " in reason for reason in reasons)
    unknown = client.get("/app/runs/1/plan.pdf")
    assert unknown.status_code == 404 and "plan.xlsx or plan.csv" in unknown.text
    assert client.get("/app/runs/999/plan.csv").status_code == 404


def test_the_plan_kept_after_a_change_is_the_one_stored(web: Web) -> None:
    from allocator.model import build_portfolio
    from allocator.service.keys import Principal

    workspace = web.app.state.workspace
    planner = Principal("planner", Role.PLANNER)
    plan, row = workspace.current(planner)
    engineer = plan.engineers[0]
    fields = {"committed_hours": engineer.committed_hours}  # The same value: a new version.
    version = workspace.set_fields("engineers", engineer.id, fields, planner, row.version)
    kept, kept_row = workspace.current(planner)  # Not read again: kept by the change.
    stored = workspace.store.get_workspace("default")
    assert kept_row.version == version == stored.version
    assert kept_row.run_ids == stored.run_ids
    assert kept == build_portfolio(stored.content)


def test_a_bad_sort_is_named_and_the_list_still_shows(web: Web) -> None:
    answer = web.client("viewer").get("/app/pipeline?sort=bogus")
    assert answer.status_code == 200
    assert "Sort by: must be one of" in answer.text and 'value="bogus"' in answer.text
    assert answer.text.count("<tr>") > 10


@pytest.mark.parametrize(
    ("who", "method", "url"),
    [
        ("sam", "get", "/app/pipeline"),
        ("sam", "get", "/app/board"),
        ("sam", "get", "/app/audit"),
        ("sam", "get", "/app/runs/1/plan.csv"),
        ("viewer", "post", "/app/runs"),
        ("viewer", "get", "/app/import"),
        ("planner", "get", "/app/audit"),
        ("planner", "get", "/app/requests/new"),
        ("auditor", "post", "/app/board/direct"),
    ],
)
def test_a_role_without_the_permission_gets_a_403_page(
    web: Web, who: str, method: str, url: str
) -> None:
    client = web.client(who)
    answer = client.get(url) if method == "get" else client.post(url, data={})
    assert answer.status_code == 403 and "Not allowed" in answer.text


def test_a_form_without_the_csrf_token_is_refused(web: Web) -> None:
    client = web.client("planner")
    before = client.get("/app/runs").text.count("Run ")
    answer = client.post("/app/runs", data={"time_limit": "1"})
    assert answer.status_code == 403 and "security token" in answer.text
    assert client.get("/app/runs").text.count("Run ") == before


def _request_form(**fields: str) -> dict[str, str]:
    return {
        "opportunity_id": "",
        "customer": "Acme Grid",
        "tier": "A",
        "industry": "power",
        "region": "North",
        "value": "900000",
        "win_probability": "0.6",
        "roles.0.skill": "solution_architect",
        "roles.0.min_proficiency": "3",
        "roles.0.hours": "8",
        "roles.0.start_week": "1",
        "roles.0.end_week": "2",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "named", "kept"),
    [
        ({"roles.0.hours": "-3"}, "roles.0.hours", 'value="-3"'),
        ({"roles.0.hours": "many"}, "roles.0.hours", 'value="many"'),
        ({"roles.0.end_week": "0"}, "roles.0.end_week", 'value="0"'),
        ({"roles.0.start_week": "3", "roles.0.end_week": "2"}, "roles.0.end_week", 'value="3"'),
        ({"roles.0.end_week": "99"}, "roles.0.end_week", 'value="99"'),
        ({"roles.0.skill": "juggling"}, "roles.0.skill", 'value="Acme Grid"'),
        ({"customer": ""}, "customer", 'value="900000"'),
        ({"win_probability": "1.5"}, "win_probability", 'value="1.5"'),
        ({"opportunity_id": "OPP-NOPE"}, "opportunity_id", 'value="OPP-NOPE"'),
        ({"roles.0.skill": "", "roles.0.hours": ""}, "roles.0.skill", 'value="Acme Grid"'),
        ({"roles.1.skill": "network", "roles.1.hours": "-1"}, "roles.1.hours", 'value="-1"'),
    ],
)
def test_the_request_form_names_each_bad_field_and_keeps_the_values(
    web: Web, fields: dict[str, str], named: str, kept: str
) -> None:
    before = web.client("planner").get("/app/pipeline").text
    answer = web.post("sam", "/app/requests/new", **_request_form(**fields))
    assert answer.status_code == 422, answer.text[:300]
    assert f'href="#f-{named}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert kept in answer.text
    assert web.client("planner").get("/app/pipeline").text == before  # Nothing stored.


def test_a_requester_files_a_request_and_follows_it_and_sees_only_their_own(web: Web) -> None:
    filed = web.post("sam", "/app/requests/new", **_request_form(notes="RFP due Friday"))
    assert filed.status_code == 303, filed.text[:500]
    page = web.client("sam").get(filed.headers["location"]).text
    assert "Submitted; waiting for this week" in page and "RFP due Friday" in page
    number = filed.headers["location"].rsplit("/", 1)[1]
    assert web.client("rita").get(f"/app/requests/{number}").status_code == 404
    assert f"Request {number}" not in web.client("rita").get("/app/requests").text
    assert f"Request {number}" in web.client("viewer").get("/app/requests").text
    pipeline = web.client("planner").get("/app/pipeline?q=Acme").text
    assert "Acme Grid" in pipeline  # The request's opportunity is in the plan.
    on_existing = web.post("rita", "/app/requests/new", **_request_form(opportunity_id="OPP-00002"))
    assert on_existing.status_code == 303
    run = web.post("planner", "/app/runs", time_limit="1")
    run_id = int(run.headers["location"].rsplit("/", 1)[1])
    web.wait(run_id)
    page = web.client("sam").get(filed.headers["location"]).text
    assert f"run {run_id}" in page
    assert ("Staffed in run" in page) or ("Not staffed in run" in page and "<h2>Why</h2>" in page)


def test_a_requester_changes_and_withdraws_only_their_own_request(web: Web) -> None:
    filed = web.post("sam", "/app/requests/new", **_request_form(customer="Edit Me GmbH"))
    url = filed.headers["location"]
    form = web.client("sam").get(f"{url}/edit").text
    assert 'value="Edit Me GmbH"' in form and "Save the changes" in form
    assert web.post("rita", f"{url}/edit", **_request_form()).status_code == 404
    bad = web.post("sam", f"{url}/edit", **_request_form(**{"roles.0.hours": "-1"}))
    assert (
        bad.status_code == 422 and 'value="-1"' in bad.text and f'action="{url}/edit"' in bad.text
    )
    changed = web.post(
        "sam", f"{url}/edit", **_request_form(customer="Edit Me GmbH", **{"roles.0.hours": "6"})
    )
    assert changed.status_code == 303
    page = web.client("sam").get(url).text
    assert "6.0 h/week" in page
    pipeline = web.client("planner").get("/app/pipeline?q=Edit+Me").text
    assert pipeline.count("Edit Me GmbH") == 1  # The same opportunity, its role replaced.
    assert web.post("rita", f"{url}/withdraw").status_code == 409
    gone = web.post("sam", f"{url}/withdraw")
    assert gone.status_code == 303
    assert "Withdrawn" in web.client("sam").get(url).text
    assert "Edit Me GmbH" not in web.client("planner").get("/app/pipeline?q=Edit+Me").text
    again = web.post("sam", f"{url}/edit", **_request_form())
    assert again.status_code == 422 and "was withdrawn" in again.text


def test_the_weekly_run_form_names_a_bad_time_limit(web: Web) -> None:
    for given in ("abc", "0", "100000"):
        answer = web.post("planner", "/app/runs", time_limit=given)
        assert answer.status_code == 422
        assert "time_limit" in answer.text and f'value="{given}"' in answer.text


def test_cancelling_a_finished_run_says_why_not(web: Web) -> None:
    answer = web.post("planner", "/app/runs/1/cancel")
    assert answer.status_code == 409 and "Cannot cancel" in answer.text


def test_the_board_drawer_pins_and_forbids_and_names_bad_ones(web: Web) -> None:
    board = web.client("planner").get("/app/board?run=1").text
    assert "Unstaffed demand per skill and region" in board
    opportunity = re.search(r"/app/board/1/explain/([^\"]+)\"", board)
    assert opportunity is not None
    drawer = web.client("planner").get(f"/app/board/1/explain/{opportunity.group(1)}").text
    assert "Staffed." in drawer and "Forbid" in drawer
    no_js = web.client("planner").get(f"/app/board?run=1&opportunity={opportunity.group(1)}")
    assert "drawer-title" in no_js.text
    pinned = web.post(
        "planner",
        "/app/board/direct",
        kind="pins",
        engineer_id="ENG-0002",
        opportunity_id=opportunity.group(1),
        run="1",
    )
    assert pinned.status_code == 303 and "Pinned" in pinned.headers["location"]
    assert "pin ENG-0002" in web.client("planner").get("/app/board?run=1").text
    bad = web.post(
        "planner",
        "/app/board/direct",
        kind="pins",
        engineer_id="NOBODY",
        opportunity_id="X",
        run="1",
    )
    shown = web.client("planner").get(bad.headers["location"]).text
    assert "Not changed: engineer_id: no such engineer" in shown and "NOBODY" in shown
    removed = web.post("planner", "/app/board/undirect", kind="pins", index="0")
    assert removed.status_code == 303
    assert "pin ENG-0002" not in web.client("planner").get("/app/board?run=1").text
    missing = web.client("planner").get("/app/board/1/explain/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.text


def test_editing_an_engineer_names_bad_values_and_refuses_a_stale_form(web: Web) -> None:
    url = "/app/engineers/ENG-0001/edit"
    page = web.client("planner").get(url).text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    fields = {"region": "North", "capacity_hours": "40", "committed_hours": "0"}
    bad = web.post("planner", url, version=version.group(1), **{**fields, "capacity_hours": "lots"})
    assert bad.status_code == 422 and "capacity_hours" in bad.text and 'value="lots"' in bad.text
    negative = web.post(
        "planner", url, version=version.group(1), **{**fields, "committed_hours": "-4"}
    )
    assert negative.status_code == 422 and "committed_hours" in negative.text
    assert 'value="-4"' in negative.text
    stale = web.post("planner", url, version="1", **fields)
    assert stale.status_code == 422 and "changed since this form was shown" in stale.text
    good = web.post("planner", url, version=version.group(1), **{**fields, "capacity_hours": "36"})
    assert good.status_code == 303
    team = web.client("planner").get("/app/team?q=ENG-0001&sort=id").text
    assert ">36<" in team
    assert web.client("planner").get("/app/engineers/NOPE/edit").status_code == 404


def test_a_bad_import_shows_the_problem_table_and_changes_nothing(web: Web) -> None:
    before = web.client("planner").get("/app/export.json").json()
    rows = (SAMPLE / "demands.csv").read_text().splitlines()
    header = rows[0].split(",")
    broken = rows[1].split(",")
    broken[header.index("hours")] = "-3"
    files = [
        ("files", (p.name, p.read_bytes(), "text/csv"))
        for p in SAMPLE.iterdir()
        if p.name != "demands.csv"
    ] + [("files", ("demands.csv", "\n".join([rows[0], ",".join(broken)]).encode(), "text/csv"))]
    answer = web.client("planner").post(
        "/app/import", data={"csrf": web.csrf("planner")}, files=files
    )
    assert answer.status_code == 422
    assert 'id="problems"' in answer.text and "demands.csv row 2" in answer.text
    assert "-3" in answer.text
    nothing = web.client("planner").post("/app/import", data={"csrf": web.csrf("planner")})
    assert nothing.status_code == 422 and "holds no file" in nothing.text
    assert web.client("planner").get("/app/export.json").json() == before


def test_the_auditor_verifies_the_chain_and_diffs_two_runs(web: Web) -> None:
    auditor = web.client("auditor")
    page = auditor.get("/app/audit").text
    assert "inputs of run 1" in page and "result of run 1" in page
    verdict = auditor.get("/app/audit/verify").text
    assert "The chain holds" in verdict
    second = web.post("planner", "/app/runs", time_limit="1")
    run_id = int(second.headers["location"].rsplit("/", 1)[1])
    web.wait(run_id)
    diff = auditor.get(f"/app/audit/diff?a=1&b={run_id}")
    assert diff.status_code == 200 and f"From run 1 to run {run_id}" in diff.text
    assert "changed engineer" in diff.text
    bad = auditor.get("/app/audit/diff?a=one&b=999999")
    assert bad.status_code == 422
    assert "Earlier run: must be a run number" in bad.text and 'value="one"' in bad.text
    unknown = auditor.get("/app/audit/diff?a=1&b=999999")
    assert unknown.status_code == 422 and "999999" in unknown.text


def test_the_weekly_run_continues_from_the_last_run_with_a_result(web: Web) -> None:
    answer = web.post("planner", "/app/runs", time_limit="1")
    run_id = int(answer.headers["location"].rsplit("/", 1)[1])
    page = web.client("planner").get(f"/app/runs/{run_id}").text
    assert "continuing from" in page
    inputs = web.client("planner").get(f"/app/audit/runs/{run_id}/inputs.json").json()
    assert inputs["previous_run_id"] is not None and inputs["portfolio"]["previous"]
    web.wait(run_id)


@pytest.mark.parametrize(
    ("fields", "named", "kept"),
    [
        ({"s0.kind": ""}, "s0.kind", 'value="5"'),
        (
            {"s0.kind": "add_engineers", "s0.skill": "network", "s0.count": "0"},
            "s0.count",
            'value="0"',
        ),
        ({"s0.kind": "add_engineers", "s0.skill": ""}, "s0.skill", 'value="hire"'),
        (
            {"s0.kind": "change_policy", "s0.field": "nonsense", "s0.value": "3"},
            "s0.field",
            'value="nonsense"',
        ),
        ({"s0.kind": "change_capacity", "s0.percent": "-500"}, "s0.percent", 'value="-500"'),
        ({"s0.kind": "remove_engineers", "s0.ids": "NOBODY"}, "s0.ids", 'value="NOBODY"'),
        (
            {"s0.kind": "change_pipeline", "s0.percent": "40", "time_limit": "soon"},
            "time_limit",
            'value="soon"',
        ),
    ],
)
def test_the_what_if_form_names_each_bad_field_and_keeps_the_values(
    web: Web, fields: dict[str, str], named: str, kept: str
) -> None:
    answer = web.post("planner", "/app/whatif", **{"s0.name": "hire", "time_limit": "5", **fields})
    assert answer.status_code == 422, answer.text[:300]
    assert f'href="#f-{named}"' in answer.text, answer.text[answer.text.find("alert") :][:600]
    assert kept in answer.text


@pytest.mark.slow
def test_scenarios_built_in_the_form_are_solved_and_compared_with_plots(web: Web) -> None:
    answer = web.post(
        "planner",
        "/app/whatif",
        **{
            "s0.name": "two network hires",
            "s0.kind": "add_engineers",
            "s0.skill": "network",
            "s0.level": "4",
            "s0.region": "North",
            "s0.count": "2",
            "s1.name": "less travel",
            "s1.kind": "change_policy",
            "s1.field": "travel_penalty",
            "s1.value": "0",
            "time_limit": "1",
        },
    )
    assert answer.status_code == 303, answer.text[:500]
    url = answer.headers["location"]
    for _ in range(240):
        page = web.client("viewer").get(url).text
        if 'id="comparison"' in page:
            break
        time.sleep(0.25)
    assert "two network hires" in page and "less travel" in page
    for name in ("comparison", "unmet"):
        image = web.client("viewer").get(f"{url}/{name}.png")
        assert image.status_code == 200 and image.content[:4] == b"\x89PNG"


def test_cells_are_banded_by_utilization() -> None:
    assert [band(u) for u in (0.0, 0.3, 0.6, 0.9, 1.0, 1.2)] == [0, 1, 2, 3, 3, 4]
