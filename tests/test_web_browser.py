"""The planning app in a real browser: Playwright for Python driving Debian's Chromium against a
real `allocator serve` process (uvicorn, worker processes, CP-SAT, an SQLite file), one test
per role's job, end to end:

- the requester files a request (bad input first: the field is named, the values kept), and
  after the week's run sees it staffed (by whom, which weeks) or the reason it is not;
- the planner imports the sample, runs the week (live progress, the summary next to the
  baselines), opens an opportunity's explanation drawer on the board, pins a runner-up from
  there, re-runs and exports the plan;
- the auditor verifies the chain and diffs two runs;
- every page passes axe-core (vendored under tests/vendor) without serious or critical
  violations, and signing in works from the keyboard alone.

Skipped, saying so, without Chromium (`apt-get install chromium`; .ci/run installs it). The
screenshots of the README are taken here: set ALLOCATOR_SCREENSHOTS=docs/img to write them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servicekit import Server, add_key

from allocator.service.keys import Role

playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="browser tests need Chromium: apt-get install chromium (.ci/run installs it)",
    ),
]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
WAIT = 90_000  # ms: a weekly run of the sample, on a loaded machine.


class App:
    """A team of its own on the module's served app (one key per role), and a browser to use
    it."""

    def __init__(self, server: Server, keys: dict[str, str], browser: Any, shots: Path) -> None:
        self.server = server
        self.keys = keys
        self.browser = browser
        self.shots = shots
        self.contexts: list[Any] = []

    def sign_in(self, name: str) -> Any:
        context = self.browser.new_context(viewport={"width": 1400, "height": 900})
        self.contexts.append(context)
        page = context.new_page()
        page.goto(f"{self.server.url}/app")
        page.get_by_label("API key").fill(self.keys[name])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    def screenshot(self, page: Any, name: str) -> None:
        page.screenshot(path=str(self.shots / name), full_page=False)
        wanted = os.environ.get("ALLOCATOR_SCREENSHOTS")
        if wanted:
            Path(wanted).mkdir(parents=True, exist_ok=True)
            shutil.copy(self.shots / name, Path(wanted) / name)


@dataclass
class Served:
    """One `allocator serve` and one Chromium for a module's tests (starting them takes
    seconds); each test works in a team of its own (`app`)."""

    server: Server
    database: str
    browser: Any
    teams: int = 0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("web")
    database = f"sqlite:///{folder / 'web.db'}"
    server = Server(database, folder / "server.log", workers="1").start()
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                yield Served(server, database, browser)
            finally:
                browser.close()
    finally:
        server.stop()


@pytest.fixture
def app(served: Served, tmp_path: Path) -> Iterator[App]:
    """A planner, a requester and an auditor of a new team: the test's workspace, runs and
    requests are its own, whatever the module's other tests did on the same server."""
    served.teams += 1
    team = f"team-{served.teams}"
    keys = {
        name: add_key(served.database, role, f"{name}-{team}", team=team)
        for name, role in (("pat", Role.PLANNER), ("sam", Role.REQUESTER), ("ada", Role.AUDITOR))
    }
    found = App(served.server, keys, served.browser, tmp_path)
    try:
        yield found
    finally:
        for context in found.contexts:
            context.close()


def import_sample(page: Any, url: str) -> None:
    page.goto(f"{url}/app/import")
    page.get_by_label("Files").set_input_files(sorted(str(p) for p in SAMPLE.iterdir()))
    page.get_by_role("button", name="Import").click()
    page.wait_for_url("**/app/pipeline")


def run_the_week(page: Any, url: str, seconds: str = "2") -> int:
    page.goto(f"{url}/app/runs")
    page.get_by_label("Time limit (seconds)").fill(seconds)
    page.get_by_role("button", name="Run the week").click()
    page.wait_for_url("**/app/runs/*")
    page.wait_for_selector("#progress .s-done", timeout=WAIT)  # htmx polls the progress.
    return int(page.url.rsplit("/", 1)[1])


def test_the_requester_files_a_request_and_later_sees_its_outcome(app: App) -> None:
    planner = app.sign_in("pat")
    import_sample(planner, app.server.url)
    sam = app.sign_in("sam")
    assert sam.url.endswith("/app/requests")
    sam.get_by_role("link", name="File a new request").click()
    sam.get_by_label("Customer (new opportunity)").fill("Nordlicht Energie")
    sam.get_by_label("Customer tier").select_option("A")
    sam.get_by_label("Industry").select_option("power")
    sam.get_by_label("Region").select_option("North")
    sam.get_by_label("Deal value").fill("2500000")
    sam.get_by_label("Win probability (0 to 1)").fill("0.7")
    role = sam.locator("fieldset", has_text="Role 1")
    role.get_by_label("Skill").select_option("solution_architect")
    role.get_by_label("Hours per week").fill("-3")
    role.get_by_label("From week").fill("1")
    role.get_by_label("To week").fill("2")
    sam.get_by_role("button", name="Submit request").click()
    alert = sam.get_by_role("alert")
    assert "roles.0.hours" in alert.inner_text()
    assert sam.locator("#f-roles\\.0\\.hours").input_value() == "-3"
    assert sam.get_by_label("Customer (new opportunity)").input_value() == "Nordlicht Energie"
    sam.locator("#f-roles\\.0\\.hours").fill("10")
    sam.get_by_role("button", name="Submit request").click()
    sam.wait_for_url("**/app/requests/*")
    assert "Submitted; waiting for this week" in sam.locator("#outcome").inner_text()
    run_id = run_the_week(planner, app.server.url)
    sam.reload()
    outcome = sam.locator("#outcome").inner_text()
    assert f"run {run_id}" in outcome
    assert outcome.startswith("Staffed in run") or outcome.startswith("Not staffed in run")
    app.screenshot(sam, "request.png")


def test_the_planner_imports_runs_pins_from_the_drawer_reruns_and_exports(app: App) -> None:
    page = app.sign_in("pat")
    import_sample(page, app.server.url)
    assert page.locator("table tbody tr").count() == 50  # The first page of 200.
    first = run_the_week(page, app.server.url)
    page.wait_for_selector("#comparison", timeout=WAIT)
    summary = page.locator("#comparison").inner_text()
    assert "seniority first" in summary and "greedy" in summary
    page.goto(f"{app.server.url}/app/board")
    page.locator("a.opp").first.click()  # htmx: the drawer, without leaving the board.
    page.wait_for_selector("#drawer-title")
    assert page.url.endswith("/app/board")
    pin = page.locator("#drawer button", has_text="Pin ").first
    if pin.count() == 0:  # A role without runners-up: forbid its engineer instead.
        pin = page.locator("#drawer button", has_text="Forbid ").first
    label = pin.inner_text()
    app.screenshot(page, "board.png")
    pin.click()
    page.wait_for_selector(".notice")
    assert "Re-run the week" in page.locator(".notice").inner_text()
    engineer = label.split()[1]
    assert engineer in page.locator("#directives").inner_text()
    page.get_by_role("button", name="Re-run the week").click()
    page.wait_for_url("**/app/runs/*")
    page.wait_for_selector("#progress .s-done", timeout=WAIT)
    assert f"continuing from run {first}" in page.inner_text("main")
    page.goto(f"{app.server.url}/app/pipeline")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export the plan (JSON)").click()
    exported = Path(download.value.path()).read_text()
    assert engineer in exported and '"pins"' in exported


def test_the_auditor_verifies_the_chain_and_diffs_two_runs(app: App) -> None:
    planner = app.sign_in("pat")
    import_sample(planner, app.server.url)
    first = run_the_week(planner, app.server.url)
    planner.goto(f"{app.server.url}/app/team?q=ENG-0001")
    planner.get_by_role("link", name="Edit ENG-0001").click()
    planner.get_by_label("Capacity hours").fill("0")
    planner.get_by_role("button", name="Save").click()
    second = run_the_week(planner, app.server.url)
    ada = app.sign_in("ada")
    assert ada.url.endswith("/app/audit")
    ada.get_by_role("link", name="Verify the chain now").click()
    assert "The chain holds" in ada.wait_for_selector("#chain-ok").inner_text()
    ada.get_by_label("Earlier run").fill(str(first))
    ada.get_by_label("Later run").fill(str(second))
    ada.get_by_role("button", name="Show who moved").click()
    ada.wait_for_url("**/app/audit/diff*")
    assert f"From run {first} to run {second}" in ada.inner_text("h1")
    assert "ENG-0001" in ada.locator("#diff").inner_text()  # Its roles moved to others.
    ada.goto(f"{app.server.url}/app/audit")
    with ada.expect_download() as download:
        ada.get_by_role("link", name=f"result of run {second}").click()
    assert '"assignments"' in Path(download.value.path()).read_text()


def test_pages_pass_axe_and_sign_in_works_by_keyboard(app: App) -> None:
    context = app.browser.new_context()
    page = context.new_page()
    page.goto(f"{app.server.url}/app")
    page.keyboard.press("Tab")  # The skip link first, then the key field (autofocused).
    page.locator("#f-key").focus()
    page.keyboard.type(app.keys["pat"])
    page.keyboard.press("Enter")
    page.wait_for_url("**/app")
    import_sample(page, app.server.url)
    run = run_the_week(page, app.server.url)
    sam = app.sign_in("sam")
    pages = [
        (page, "/app"),
        (page, "/app/pipeline"),
        (page, "/app/team"),
        (page, "/app/runs"),
        (page, "/app/board"),
        (page, f"/app/runs/{run}"),
        (sam, "/app/requests/new"),
        (sam, "/app/requests"),
        (app.sign_in("ada"), "/app/audit"),
    ]
    axe = AXE.read_text()
    found = {}
    for viewer, path in pages:
        viewer.goto(f"{app.server.url}{path}")
        viewer.wait_for_load_state("networkidle")
        viewer.add_script_tag(content=axe)
        result = viewer.evaluate("async () => await axe.run(document)")
        bad = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['html'][:80]})"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        if bad:
            found[path] = bad
    assert not found, found
