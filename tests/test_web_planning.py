"""The planning app's later screens through TestClient (issue 14's gaps): hiring
recommendations and the ratio sweep queued as scenario sets, the drawer's contrast with
another opportunity, time off edited on the team page. Bad input is answered with the field
named and the value kept, and nothing is queued or changed.

One app over a real SQLite file with one real worker process; the sample portfolio imported
and one weekly run solved (1 s), shared by the module's tests.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from test_run_comparison import refuse_solvers
from test_web_insight import sample_web
from test_web_pages import SAMPLE, Web, _request_form

from allocator.io.formats import load_portfolio
from allocator.service.keys import Role
from allocator.web.pages.hiring import hire_scenarios
from allocator.whatif.scenarios import parse_scenarios

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    roles: dict[str, Role | tuple[Role, str]] = {
        "planner": Role.PLANNER,
        "viewer": Role.VIEWER,
        "rita": Role.REQUESTER,
    }
    with sample_web(tmp_path_factory.mktemp("planning"), roles) as web:
        yield web


def finished_set(web: Web, location: str) -> str:
    for _ in range(600):
        page = web.client("planner").get(location)
        if re.search(r"s-(done|failed|cancelled)", page.text):
            return str(page.text)
        time.sleep(0.2)
    raise AssertionError(f"{location} did not finish")


def test_hire_scenarios_are_one_per_skill_and_region_in_demand() -> None:
    plan = load_portfolio(SAMPLE)
    every = hire_scenarios(plan, 4, 40.0)
    region_of = {o.id: o.region for o in plan.opportunities}
    assert len(every) == len({(d.skill, region_of[d.opportunity_id]) for d in plan.demands})
    east = hire_scenarios(plan, 3, 30.0, region="East", skill="cloud")
    assert [s["name"] for s in east] == ["+1 cloud in East"]
    (scenario,) = parse_scenarios(east)  # What the service accepts.
    assert scenario.edits[0].profile.skills == {"cloud": 3}  # type: ignore[union-attr]
    assert scenario.edits[0].profile.capacity_hours == 30.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("url", "fields", "named", "kept"),
    [
        ("/app/hiring", {"level": "7", "capacity_hours": "40", "time_limit": "1"}, "level",
         'value="7"'),
        ("/app/hiring", {"level": "4", "capacity_hours": "lots", "time_limit": "1"},
         "capacity_hours", 'value="lots"'),
        ("/app/hiring", {"level": "4", "capacity_hours": "40", "time_limit": "0"}, "time_limit",
         'value="0"'),
        ("/app/hiring", {"level": "4", "capacity_hours": "40", "time_limit": "1",
                         "region": "North", "skill": "iot-x"}, "skill", ""),
        ("/app/ratio-sweep", {"scope": "", "from": "1:6", "to": "1:2", "steps": "3",
                              "time_limit": "1"}, "scope", ""),
        ("/app/ratio-sweep", {"scope": "region:East", "from": "1-6", "to": "1:2", "steps": "3",
                              "time_limit": "1"}, "from", 'value="1-6"'),
        ("/app/ratio-sweep", {"scope": "region:East", "from": "1:6", "to": "1:2", "steps": "1",
                              "time_limit": "1"}, "steps", 'value="1"'),
        ("/app/ratio-sweep", {"scope": "region:Atlantis", "from": "1:6", "to": "1:2",
                              "steps": "3", "time_limit": "1"}, "scope", ""),
    ],
)  # fmt: skip
def test_a_bad_hiring_or_sweep_form_names_the_field_and_queues_nothing(
    web: Web, url: str, fields: dict[str, str], named: str, kept: str
) -> None:
    before = web.app.state.scenarios.list(limit=1, offset=0)[1]
    answer = web.post("planner", url, **fields)
    assert answer.status_code == 422, answer.text
    assert f'href="#f-{named}"' in answer.text and 'aria-invalid="true"' in answer.text
    assert kept in answer.text
    assert web.app.state.scenarios.list(limit=1, offset=0)[1] == before


def test_the_forms_show_to_readers_and_only_planners_queue(web: Web) -> None:
    for url in ("/app/hiring", "/app/ratio-sweep"):
        page = web.client("viewer").get(url)
        assert page.status_code == 200 and f'action="{url}"' not in page.text
        assert web.post("viewer", url, level="4").status_code == 403
    assert 'href="/app/hiring"' in web.client("planner").get("/app/whatif").text


@pytest.mark.slow
def test_hiring_is_queued_and_ranked_by_the_value_each_hire_adds(web: Web) -> None:
    answer = web.post(
        "planner", "/app/hiring", level="4", capacity_hours="40", skill="cloud", time_limit="0.5"
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("?order=value")
    page = finished_set(web, answer.headers["location"])
    assert "s-done" in page and "Ranked by the expected value" in page
    changes = re.findall(r'<th scope="row">\+1 cloud in [A-Za-z]+</th>(?:<td[^>]*>[^<]*</td>){2}'
                         r'<td class="num">([+-][\d,]+)</td>', page)  # fmt: skip
    assert len(changes) >= 2
    values = [float(c.replace(",", "")) for c in changes]
    assert values == sorted(values, reverse=True)


@pytest.mark.slow
def test_a_ratio_sweep_is_queued_with_its_ratio_plot(web: Web) -> None:
    answer = web.post(
        "planner",
        "/app/ratio-sweep",
        scope="region:East",
        **{"from": "1:4", "to": "1:2"},
        steps="2",
        time_limit="0.5",
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    page = finished_set(web, location)
    assert "s-done" in page
    set_id = location.split("/")[-1].split("?")[0]
    assert f'src="/app/whatif/{set_id}/ratio.png"' in page
    plot = web.client("viewer").get(f"/app/whatif/{set_id}/ratio.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def staffed_and_not(web: Web) -> tuple[list[str], list[str]]:
    _, allocation = web.app.state.service.result(1)
    staffed = sorted(allocation.staffed_opportunities)
    plan = web.app.state.workspace.snapshot(1, web.app.state.service.authenticate(
        web.keys["planner"]))[0]  # fmt: skip
    unstaffed = sorted({d.opportunity_id for d in plan.demands} - set(staffed))
    return staffed, unstaffed


def test_the_drawer_contrasts_two_staffed_opportunities_without_a_solve(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    staffed, _ = staffed_and_not(web)
    a, b = staffed[0], staffed[1]
    drawer = web.client("viewer").get(f"/app/board/1/explain/{a}").text
    assert 'action="/app/board/1/contrast"' in drawer and f'name="a" value="{a}"' in drawer
    web.app.state.workspace.explained(1, web.app.state.service.authenticate(web.keys["viewer"]))
    refuse_solvers(monkeypatch)
    part = web.client("viewer").get(
        f"/app/board/1/contrast?a={a}&b={b}", headers={"HX-Request": "true"}
    )
    assert part.status_code == 200 and "<html" not in part.text
    summary = part.text.split('id="contrast-summary">')[1].split("</p>")[0]
    assert summary.startswith(f"{a} (tier ") and "Requester and seniority were not consulted" in (
        summary
    )
    page = web.client("viewer").get(f"/app/board/1/contrast?a={a}&b={b}")
    assert "<html" in page.text and 'id="contrast-summary"' in page.text


def test_a_contrast_with_an_unstaffed_one_is_answered_by_a_worker(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    staffed, unstaffed = staffed_and_not(web)
    assert unstaffed, "the sample leaves some opportunity unstaffed"
    refuse_solvers(monkeypatch)  # The re-solve happens in the worker, not here.
    part = web.client("viewer").get(
        f"/app/board/1/contrast?a={staffed[0]}&b={unstaffed[0]}",
        headers={"HX-Request": "true"},
    )
    assert part.status_code == 200, part.text
    assert f"{unstaffed[0]} (tier" in part.text and "<td>no</td>" in part.text


@pytest.mark.parametrize(
    ("b", "problem"),
    [("", "name an opportunity"), ("OPP-NOPE", "no opportunity &#39;OPP-NOPE&#39; in run 1"),
     ("SAME", "choose another opportunity")],
)  # fmt: skip
def test_a_bad_contrast_names_the_field_and_keeps_the_value(web: Web, b: str, problem: str) -> None:
    staffed, _ = staffed_and_not(web)
    b = staffed[0] if b == "SAME" else b
    answer = web.client("viewer").get(f"/app/board/1/contrast?a={staffed[0]}&b={b}")
    assert answer.status_code == 422
    assert 'href="#f-b"' in answer.text and problem in answer.text
    assert f'name="b" type="text" value="{b}"' in answer.text
    fragment = web.client("viewer").get(
        f"/app/board/1/contrast?a={staffed[0]}&b={b}", headers={"HX-Request": "true"}
    )  # htmx swaps only 2xx answers in: the fragment's problem comes as 200.
    assert fragment.status_code == 200 and problem in fragment.text and "<html" not in fragment.text
    assert web.client("viewer").get("/app/board/999/contrast?a=x&b=y").status_code == 404


def plan_time_off(web: Web, engineer_id: str) -> dict[int, float]:
    principal = web.app.state.service.authenticate(web.keys["planner"])
    plan = web.app.state.workspace.plan(principal)
    return dict(plan.engineer_by_id()[engineer_id].time_off)


def version_shown(web: Web, engineer_id: str) -> str:
    page = web.client("planner").get(f"/app/engineers/{engineer_id}/time-off").text
    found = re.search(r'name="version" value="(\d+)"', page)
    assert found is not None
    return found.group(1)


def test_time_off_ranges_are_added_replaced_and_removed(web: Web) -> None:
    engineer = "ENG-0007"
    before = plan_time_off(web, engineer)
    url = f"/app/engineers/{engineer}/time-off"
    team = web.client("planner").get(f"/app/team?q={engineer}").text
    assert f'href="{url}"' in team
    added = web.post(
        "planner", url, version=version_shown(web, engineer), **{"from": "1", "to": "2"}, hours="8"
    )
    assert added.status_code == 303, added.text
    assert plan_time_off(web, engineer) == {**before, 1: 8.0, 2: 8.0}
    page = web.client("viewer").get(url).text
    assert "week 1 to week 2" in page and 'action="' not in page.split('id="time-off"')[1]
    web.post("planner", url, version=version_shown(web, engineer), **{"from": "2"}, hours="4")
    assert plan_time_off(web, engineer) == {**before, 1: 8.0, 2: 4.0}
    removed = web.post("planner", url, version=version_shown(web, engineer), remove="1..1")
    assert removed.status_code == 303
    assert plan_time_off(web, engineer) == {**before, 2: 4.0}
    web.post("planner", url, version=version_shown(web, engineer), remove="2..2")
    assert plan_time_off(web, engineer) == before
    assert web.post("viewer", url, remove="2..2").status_code == 403


@pytest.mark.parametrize(
    ("fields", "named", "kept"),
    [
        ({"from": "soon", "hours": "8"}, "from", 'value="soon"'),
        ({"from": "2026-W50", "hours": "8"}, "from", "no horizon start"),
        ({"from": "2", "to": "1", "hours": "8"}, "to", 'value="1"'),
        ({"from": "2", "hours": "lots"}, "hours", 'value="lots"'),
        ({"from": "99", "hours": "8"}, "from", "within weeks 1.."),
        ({"from": "2", "hours": "-5"}, "hours", 'value="-5"'),
        ({"from": "2", "hours": "8", "version": "1"}, "version", "changed since"),
    ],
)
def test_bad_time_off_names_the_field_and_changes_nothing(
    web: Web, fields: dict[str, str], named: str, kept: str
) -> None:
    engineer = "ENG-0008"
    before = plan_time_off(web, engineer)
    answer = web.post(
        "planner",
        f"/app/engineers/{engineer}/time-off",
        **{"version": version_shown(web, engineer), **fields},
    )
    assert answer.status_code == 422, answer.text
    assert f'href="#f-{named}"' in answer.text and kept in answer.text
    assert plan_time_off(web, engineer) == before
    unknown = web.client("planner").get("/app/engineers/ENG-NOPE/time-off")
    assert unknown.status_code == 404


def test_a_staffed_request_names_its_weeks_as_the_plan_labels_them(web: Web) -> None:
    form = _request_form(value="50000000", win_probability="0.9", **{"roles.0.hours": "2"})
    filed = web.post("rita", "/app/requests/new", **form)
    assert filed.status_code == 303, filed.text[:300]
    run = web.post("planner", "/app/runs", time_limit="1")
    web.wait(int(run.headers["location"].rsplit("/", 1)[1]))
    page = web.client("rita").get(filed.headers["location"]).text
    assert "Staffed in run" in page
    assert re.search(r"<td>week 1, week 2</td>", page), page.split("<tbody>")[-1][:300]


def test_a_contrast_answered_once_is_kept_for_its_run_and_pair(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    staffed, _ = staffed_and_not(web)
    a, b = staffed[2], staffed[3]
    first = web.client("viewer").get(f"/app/board/1/contrast?a={a}&b={b}").text
    import allocator.web.pages.contrast as page

    def refuse(*_: object) -> None:
        raise AssertionError("contrasted again")

    monkeypatch.setattr(page, "contrast", refuse)
    again = web.client("planner").get(f"/app/board/1/contrast?a={a}&b={b}").text
    summary = first.split('id="contrast-summary">')[1].split("</p>")[0]
    assert summary in again
    with pytest.raises(AssertionError, match="contrasted again"):  # Another pair is worked out.
        web.client("viewer").get(f"/app/board/1/contrast?a={b}&b={a}")
