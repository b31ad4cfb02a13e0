"""Admission gaps closed (issue 12): key names bounded in the domain and the CLI; the per-key
job limit taken in the transaction that inserts the job, so that simultaneous submissions
(from several server processes on one database) cannot pass it together; CSV and .xlsx
uploads refused on their raw demand count before any template derives a demand. Real SQLite
files, real services, the real app in-process."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from servicekit import add_key, cli

from allocator.api import create_app
from allocator.core.generate import generate
from allocator.errors import InvalidInputError
from allocator.service.jobs import QueueFullError
from allocator.service.keys import Principal, Role, hash_key, new_key
from allocator.service.runs import RunFilter, RunRequest, RunService
from allocator.service.settings import Settings
from allocator.store.repository import Store

pytestmark = pytest.mark.service


def test_key_names_and_teams_are_bounded_in_the_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'keys.db'}")
    store.migrate()
    for name, team, field in (
        ("x" * 101, "north", "--name"),
        ("ok", "t" * 300, "--team"),
        ("  ", "north", "--name"),
        ("bell\x07", "north", "--name"),
    ):
        with pytest.raises(InvalidInputError, match=f"^{field}: has .* characters"):
            store.add_key(name, Role.VIEWER, hash_key(new_key()), team=team)
    assert store.list_keys() == []  # Nothing stored, nothing sealed.
    assert store.add_key(" kim ", Role.VIEWER, hash_key(new_key()), team="north").name == "kim"
    with pytest.raises(InvalidInputError, match="--team"):
        store.change_key("kim", None, "t" * 101)
    store.close()


def test_the_keys_command_refuses_a_long_name_in_one_line(tmp_path: Path) -> None:
    env = {"ALLOCATOR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    made = cli("keys", "create", "--role", "viewer", "--name", "n" * 300, env=env)
    assert made.returncode == 2, made.stdout
    lines = made.stderr.strip().splitlines()
    assert len(lines) == 1 and "--name: has 300 characters" in lines[0]
    assert "Traceback" not in made.stderr


def test_simultaneous_submissions_of_one_key_stop_at_its_job_limit(tmp_path: Path) -> None:
    """Eight submissions at once from four services (four server processes, each with its own
    engine and lock) on one database, the key's limit at 2: two accepted, six refused."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    settings = Settings(database_url=url, workers=0, max_jobs_per_key=2)
    stores = [Store(url) for _ in range(4)]
    stores[0].migrate()
    services = [RunService(store, settings) for store in stores]
    racer = Principal("racer", Role.PLANNER)
    stored = services[0].add_portfolio(generate(6, 10, seed=3), racer)
    start = threading.Barrier(8)

    def submit(index: int) -> str:
        start.wait()
        try:
            services[index % 4].submit(RunRequest(portfolio_id=stored.id, time_limit=1), racer)
        except QueueFullError as error:
            assert "ALLOCATOR_MAX_JOBS_PER_KEY = 2" in str(error)
            return "refused"
        return "accepted"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(submit, range(8)))
    assert outcomes == ["accepted"] * 2 + ["refused"] * 6
    assert services[0].list_runs(RunFilter())[1] == 2
    assert services[0].verify_audit(tmp_path / "checkpoints").ok
    for store in stores:
        store.close()


TEMPLATE_ROWS = "stage,skill,min_proficiency,hours,weeks,required\n" + "".join(
    f"discovery,skill{n},3,4,1,true\n" for n in range(6)
)
"""A stage template of six roles: every opportunity in `discovery` without demands gets six."""


def _tables(opportunities: int) -> dict[str, str]:
    return {
        "engineers.csv": "id,region,capacity_hours,skills\nE1,North,40,skill0:3\n",
        "opportunities.csv": "id,customer,tier,industry,region,stage,value,win_probability\n"
        + "".join(f"O{n},C{n},B,power,North,discovery,1000,0.5\n" for n in range(opportunities)),
        "stage_templates.csv": TEMPLATE_ROWS,
    }


def _workbook(tables: dict[str, str]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, text in tables.items():
        sheet = book.create_sheet(name.removesuffix(".csv"))
        for line in text.strip().splitlines():
            sheet.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("form", ["csv", "xlsx"])
def test_an_upload_is_refused_on_its_raw_demand_count_before_templates_derive_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """20 opportunities x a six-role template = 120 demands, the limit 100: 422 naming the
    limit and the figure, without building the portfolio (build_portfolio would fail the
    test), over the API and through the web app's import."""
    url = f"sqlite:///{tmp_path / 'up.db'}"
    app = create_app(Settings(database_url=url, workers=0, max_demands=100))
    key = add_key(url, Role.PLANNER, "planner")
    tables = _tables(20)
    if form == "csv":
        files = [("files", (name, text.encode(), "text/csv")) for name, text in tables.items()]
    else:
        files = [("files", ("plan.xlsx", _workbook(tables), "application/octet-stream"))]
    import allocator.io.formats as formats

    def built(*_: object, **__: object) -> None:
        raise AssertionError("the portfolio was built before its demands were counted")

    with TestClient(app) as client:
        good = client.post(
            "/v1/portfolios",
            files=[("files", (n, t.encode(), "text/csv")) for n, t in _tables(10).items()],
            headers={"Authorization": f"Bearer {key}"},
        )
        assert good.status_code == 201, good.text  # 60 derived demands: under the limit.
        monkeypatch.setattr(formats, "build_portfolio", built)
        answer = client.post(
            "/v1/portfolios", files=files, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 422, answer.text
        assert "120" in answer.text and "ALLOCATOR_MAX_DEMANDS" in answer.text
        signed = client.post("/app/signin", data={"key": key})
        assert signed.status_code == 200
        token = signed.text.split('name="csrf" value="')[1].split('"')[0]
        page = client.post("/app/import", data={"csrf": token}, files=files)
        assert page.status_code == 422 and "ALLOCATOR_MAX_DEMANDS" in page.text
