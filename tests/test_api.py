"""The API through the real app (in-process ASGI) on a real SQLite file: uploads in every
format, the exact messages of bad input, keys and roles, limits, the queue, continuity, and
that bad input leaves everything stored untouched. Runs are solved in this process with the
workers' own `process_next`, with real CP-SAT."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from servicekit import add_key, portfolio_document

from allocator.api import create_app
from allocator.service.jobs import process_next
from allocator.service.keys import Role
from allocator.service.runs import RunService
from allocator.service.settings import Settings
from allocator.store.repository import Store

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"


class Api:
    """The app, its service and a key per role."""

    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        url = f"sqlite:///{tmp_path / 'api.db'}"
        self.settings = Settings(database_url=url, workers=0, **settings)
        self.app = create_app(self.settings)
        self.service: RunService = self.app.state.service
        self.store: Store = self.service.store  # type: ignore[assignment]
        self.keys = {role: add_key(url, role, role.value) for role in Role}
        self.client = TestClient(self.app)

    def as_(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def post(self, path: str, role: Role = Role.PLANNER, **kwargs: Any) -> Any:
        headers = {**self.as_(role), **kwargs.pop("headers", {})}
        return self.client.post(path, headers=headers, **kwargs)

    def get(self, path: str, role: Role = Role.VIEWER, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.as_(role), **kwargs)

    def solve_next(self) -> None:
        """Do what a worker process does, here: claim the oldest queued job and work on it."""
        assert process_next(self.store, self.settings, "test:0")

    def ledger_records(self) -> int:
        return self.store.verify_ledger().records


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    made = Api(tmp_path, max_time_limit=5.0, queue_size=3)
    with made.client:
        yield made


def texts(response: Any) -> list[str]:
    return [problem["text"] for problem in response.json()["problems"]]


def csv_files(folder: Path, edit: dict[str, str] | None = None) -> list[tuple[str, Any]]:
    files = []
    for path in sorted(folder.iterdir()):
        content = (edit or {}).get(path.name, path.read_text())
        files.append(("files", (path.name, content.encode(), "text/csv")))
    return files


# ---------------------------------------------------------------------------------------------
# Portfolios


def test_a_json_portfolio_is_stored_and_read_back(api: Api) -> None:
    document = portfolio_document()
    created = api.post("/v1/portfolios", json=document)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["engineers"], body["opportunities"], body["created_by"]) == (12, 30, "planner")
    read = api.get(f"/v1/portfolios/{body['id']}")
    assert read.status_code == 200
    assert read.json()["portfolio"]["engineers"] == document["engineers"]
    assert read.json()["sha256"] == body["sha256"]


def test_csv_files_are_read_like_a_folder(api: Api) -> None:
    created = api.post("/v1/portfolios", files=csv_files(SAMPLE))
    assert created.status_code == 201, created.text
    assert (created.json()["name"], created.json()["demands"]) == ("sample", 430)


def test_an_xlsx_workbook_is_read(api: Api) -> None:
    book = io.BytesIO()
    with pd.ExcelWriter(book, engine="openpyxl") as writer:
        for csv in sorted(SAMPLE.glob("*.csv")):
            pd.read_csv(csv, dtype=str, keep_default_na=False).to_excel(
                writer, sheet_name=csv.stem, index=False
            )
        for name in ("policy", "portfolio"):
            data = json.loads((SAMPLE / f"{name}.json").read_text())
            values = [json.dumps(v) for v in data.values()]
            pd.DataFrame({"key": list(data), "value": values}).to_excel(
                writer, sheet_name=name, index=False
            )
    files = [("files", ("sample.xlsx", book.getvalue(), "application/octet-stream"))]
    created = api.post("/v1/portfolios", files=files)
    assert created.status_code == 201, created.text
    assert created.json()["opportunities"] == 200


def test_a_bad_csv_cell_is_named_by_file_row_and_column(api: Api) -> None:
    demands = (SAMPLE / "demands.csv").read_text().splitlines()
    cells = demands[1].split(",")
    cells[4] = "-3"  # hours
    demands[1] = ",".join(cells)
    before = api.ledger_records()
    answer = api.post(
        "/v1/portfolios", files=csv_files(SAMPLE, {"demands.csv": "\n".join(demands) + "\n"})
    )
    assert answer.status_code == 422
    assert texts(answer) == ["demands.csv row 2, column hours: must be >= 0 (got '-3')"]
    assert answer.json()["problems"][0]["where"] == "demands.csv row 2"
    assert api.ledger_records() == before


def test_a_bad_json_field_is_named_by_its_path(api: Api) -> None:
    document = portfolio_document()
    document["demands"] = [{"opportunity_id": "OPP-00001", "skill": "network", "hours": -3}]
    answer = api.post("/v1/portfolios", json=document)
    assert answer.status_code == 422
    assert texts(answer) == ["$.demands[0].hours: must be >= 0 (got -3)"]
    assert answer.json()["detail"] == "$.demands[0].hours: must be >= 0 (got -3)"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"engineers": [', "application/json", 422, "request body line 1 column 16: is not "),
        (b"[1, 2]", "application/json", 422, "$: must be a JSON object (a portfolio document)"),
        (b'{"a": "\xc3\x28"}', "application/json", 422, "request body: is not UTF-8 text"),
        (b"engineers", "text/plain", 415, "send the portfolio as application/json"),
    ],
)
def test_a_body_that_is_no_portfolio(
    api: Api, body: bytes, content_type: str, status: int, message: str
) -> None:
    answer = api.post("/v1/portfolios", content=body, headers={"content-type": content_type})
    assert answer.status_code == status
    assert answer.json()["detail"].startswith(message)


def test_unknown_and_mixed_files_are_refused(api: Api) -> None:
    files = [("files", ("evil/../notes.txt", b"x", "text/plain"))]
    answer = api.post("/v1/portfolios", files=files)
    assert answer.status_code == 422
    assert texts(answer)[0].startswith("notes.txt: unknown file; expected demands.csv, ")
    both = [*csv_files(SAMPLE), ("files", ("p.json", b"{}", "application/json"))]
    answer = api.post("/v1/portfolios", files=both)
    assert texts(answer) == ["request body: upload p.json alone, not with other files"]


def test_size_limits_answer_413_and_422(tmp_path: Path) -> None:
    small = Api(tmp_path, max_body_bytes=50_000, max_engineers=5)
    with small.client:
        big = small.post(
            "/v1/portfolios", content=b" " * 60_000, headers={"content-type": "application/json"}
        )
        assert big.status_code == 413
        assert big.json()["detail"] == "the request body is larger than 50000 bytes"
        document = portfolio_document(engineers=6, opportunities=2)
        many = small.post("/v1/portfolios", json=document)
        assert many.status_code == 422
        assert texts(many) == [
            "$.engineers: at most 5 engineers are accepted by this server "
            "(ALLOCATOR_MAX_ENGINEERS) (got 6)"
        ]


def test_an_unknown_portfolio_is_not_found(api: Api) -> None:
    answer = api.get("/v1/portfolios/999")
    assert answer.status_code == 404
    assert answer.json()["detail"] == "portfolio 999 does not exist"


# ---------------------------------------------------------------------------------------------
# Keys and roles


def test_no_key_or_an_unknown_key_is_401(api: Api) -> None:
    missing = api.client.get("/v1/runs")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["detail"] == "send an API key as `Authorization: Bearer KEY`"
    wrong = api.client.get("/v1/runs", headers={"Authorization": "Bearer alk_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["detail"] == "the API key is not known or was revoked"


def test_each_role_does_only_its_part(api: Api) -> None:
    document = portfolio_document()
    viewer = api.post("/v1/portfolios", Role.VIEWER, json=document)
    assert viewer.status_code == 403
    assert viewer.json()["detail"] == (
        "key 'viewer' has role viewer, which may not upload portfolios or submit and cancel runs"
    )
    assert api.post("/v1/runs", Role.AUDITOR, json={"portfolio": document}).status_code == 403
    assert api.get("/v1/audit/verify", Role.PLANNER).status_code == 403
    assert api.get("/v1/audit/verify", Role.VIEWER).status_code == 403
    assert api.get("/v1/audit/verify", Role.AUDITOR).status_code == 200
    for role in Role:
        readers = role is not Role.REQUESTER  # Requesters follow their own requests, in the app.
        assert api.get("/v1/runs", role).status_code == (200 if readers else 403)


def test_health_needs_no_key(api: Api) -> None:
    answer = api.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


# ---------------------------------------------------------------------------------------------
# Runs


def test_a_run_is_accepted_at_once_then_solved_and_its_result_read(api: Api) -> None:
    stored = api.post("/v1/portfolios", json=portfolio_document()).json()
    accepted = api.post("/v1/runs", json={"portfolio_id": stored["id"], "time_limit": 1})
    assert accepted.status_code == 202, accepted.text
    run = accepted.json()
    assert accepted.headers["location"] == f"/v1/runs/{run['id']}"
    assert (run["status"], run["submitted_by"], run["attempt"]) == ("queued", "planner", 0)
    not_yet = api.get(f"/v1/runs/{run['id']}/result")
    assert not_yet.status_code == 409
    assert not_yet.json()["detail"] == f"run {run['id']} is queued; it has no result yet"

    api.solve_next()
    done = api.get(f"/v1/runs/{run['id']}").json()
    assert done["status"] == "done" and done["attempt"] == 1
    assert done["outcome"]["solve_status"] in ("optimal", "feasible")
    assert done["timings"]["running_seconds"] > 0
    result = api.get(f"/v1/runs/{run['id']}/result").json()
    assert result["allocation"]["objective"] == done["outcome"]["objective"]
    assert result["allocation"]["assignments"]
    inputs = api.get(f"/v1/runs/{run['id']}/inputs").json()["inputs"]
    assert inputs["submitted_by"] == "planner" and inputs["portfolio_id"] == stored["id"]
    assert inputs["versions"]["ortools"] and inputs["git_revision"]
    # The portfolio, the run's two records, and one sealed record per key.
    assert api.get("/v1/audit/verify", Role.AUDITOR).json()["records"] == 3 + len(api.keys)


def test_the_time_limit_is_capped_by_the_server(api: Api) -> None:
    run = api.post("/v1/runs", json={"portfolio": portfolio_document(), "time_limit": 100})
    assert run.json()["time_limit"] == 5.0
    parameters = api.get(f"/v1/runs/{run.json()['id']}/inputs").json()["inputs"]["parameters"]
    assert (parameters["time_limit"], parameters["requested_time_limit"]) == (5.0, 100.0)


def test_bad_run_requests_name_the_place_in_the_request(api: Api) -> None:
    stored = api.post("/v1/portfolios", json=portfolio_document()).json()
    before = api.ledger_records()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"portfolio_id": 999}, "$.portfolio_id: unknown portfolio (got 999)"),
        ({}, "$.portfolio_id: give either portfolio_id or portfolio"),
        (
            {
                "portfolio_id": stored["id"],
                "pins": [{"engineer_id": "E-X", "opportunity_id": "OPP-00001"}],
            },
            "$.pins[0].engineer_id: unknown engineer (got 'E-X')",
        ),
        (
            {"portfolio_id": stored["id"], "policy": {"continuity_penalty": -1}},
            "$.policy.continuity_penalty: must be >= 0 (got -1)",
        ),
        (
            {"portfolio": {**portfolio_document(), "horizon_weeks": 0}},
            "$.portfolio.horizon_weeks: must be >= 1 (got 0)",
        ),
        (
            {"portfolio_id": stored["id"], "seed": -1},
            "$.seed: must be >= 0 (got -1)",
        ),
        (
            {"portfolio_id": stored["id"], "week": "2026-49"},
            "$.week: String should match pattern '^\\d{4}-W(0[1-9]|[1-4]\\d|5[0-3])$' "
            "(got '2026-49')",
        ),
        (
            {"portfolio_id": stored["id"], "previous_run_id": 77},
            "$.previous_run_id: unknown run (got 77)",
        ),
    ]
    for body, message in cases:
        answer = api.post("/v1/runs", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert texts(answer)[0] == message
    assert api.ledger_records() == before
    assert api.get("/v1/runs").json()["total"] == 0


def test_path_and_query_errors_are_422_not_500(api: Api) -> None:
    assert api.get("/v1/runs/0").status_code == 422
    assert api.get(f"/v1/runs/{2**60}").status_code == 422
    answer = api.get("/v1/runs", params={"status": "lost", "limit": 0})
    assert answer.status_code == 422
    assert sorted(texts(answer)) == [
        "query parameter limit: must be >= 1 (got '0')",
        "query parameter status: Input should be 'queued', 'running', 'done', 'failed' or "
        "'cancelled' (got 'lost')",
    ]
    typo = api.get("/v1/runs", params={"stauts": "done"})
    assert typo.status_code == 422
    assert texts(typo) == [
        "query parameter stauts: is not known (expected: limit, offset, portfolio_id, status, "
        "submitted_by, week)"
    ]
    for body, text in [
        (b"\xff{", "request body: is not UTF-8 text"),
        (
            b"{",
            "request body: is not valid JSON: Expecting property name enclosed in double quotes",
        ),
    ]:
        answer = api.post("/v1/runs", content=body, headers={"content-type": "application/json"})
        assert answer.status_code == 422
        assert texts(answer) == [text]
    not_allowed = api.client.delete("/v1/runs")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, POST"


def test_a_full_queue_answers_429_with_retry_after(api: Api) -> None:
    document = portfolio_document()
    for _ in range(3):
        assert (
            api.post("/v1/runs", json={"portfolio": document, "time_limit": 4}).status_code == 202
        )
    full = api.post("/v1/runs", json={"portfolio": document})
    assert full.status_code == 429
    assert full.headers["retry-after"] == "12"  # 3 runs x 4 s for 0 workers (counted as 1).
    assert full.json()["detail"] == "3 runs are waiting, the most this server queues"


def test_cancel_a_queued_run_then_again(api: Api) -> None:
    run = api.post("/v1/runs", json={"portfolio": portfolio_document()}).json()
    cancelled = api.post(f"/v1/runs/{run['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    again = api.post(f"/v1/runs/{run['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["detail"] == f"run {run['id']} has already ended (cancelled)"
    no_result = api.get(f"/v1/runs/{run['id']}/result")
    assert no_result.status_code == 409
    assert "cancelled without a result: Cancelled while queued." in no_result.json()["detail"]
    assert api.post("/v1/runs/4242/cancel").status_code == 404


def test_cancel_stops_a_running_solve_and_keeps_its_best(api: Api) -> None:
    document = portfolio_document(engineers=100, opportunities=300)
    run = api.post("/v1/runs", json={"portfolio": document, "time_limit": 5}).json()
    solving = threading.Thread(target=api.solve_next)
    solving.start()
    while api.get(f"/v1/runs/{run['id']}").json()["progress"] is None:
        time.sleep(0.05)
    asked = time.monotonic()
    assert api.post(f"/v1/runs/{run['id']}/cancel").json()["cancel_requested"]
    solving.join(30)
    assert time.monotonic() - asked < 5
    ended = api.get(f"/v1/runs/{run['id']}").json()
    assert ended["status"] == "cancelled"
    result = api.get(f"/v1/runs/{run['id']}/result").json()["allocation"]
    assert result["assignments"] and result["objective"] > 0
    assert result["message"] == "Stopped on request; the best allocation found so far is kept."


def test_a_previous_run_gives_continuity(api: Api) -> None:
    document = portfolio_document()
    stored = api.post("/v1/portfolios", json=document).json()
    first = api.post("/v1/runs", json={"portfolio_id": stored["id"], "time_limit": 1}).json()
    without = api.post(
        "/v1/runs", json={"portfolio_id": stored["id"], "previous_run_id": first["id"]}
    )
    assert without.status_code == 422
    assert texts(without) == [
        f"$.previous_run_id: names a run without a result (got {first['id']})"
    ]
    api.solve_next()
    first_result = api.get(f"/v1/runs/{first['id']}/result").json()["allocation"]
    assert first_result["status"] == "optimal"  # So keeping every assignment stays optimal.
    kept = first_result["assignments"]
    second = api.post(
        "/v1/runs",
        json={"portfolio_id": stored["id"], "previous_run_id": first["id"], "time_limit": 1},
    ).json()
    assert second["previous_run_id"] == first["id"]
    previous = api.get(f"/v1/runs/{second['id']}/inputs").json()["inputs"]["portfolio"]["previous"]
    assert {(p["engineer_id"], p["demand_id"]) for p in previous} == {
        (a["engineer_id"], a["demand_id"]) for a in kept
    }
    api.solve_next()
    again = api.get(f"/v1/runs/{second['id']}/result").json()["allocation"]
    assert again["terms"]["continuity"] == 0.0  # Nothing moved without reason.


def test_runs_are_listed_with_filters_and_pages(api: Api) -> None:
    document = portfolio_document()
    ids = [
        api.post("/v1/runs", json={"portfolio": document, "week": week}).json()["id"]
        for week in ("2026-W49", "2026-W50", "2026-W50")
    ]
    page = api.get("/v1/runs", params={"week": "2026-W50", "limit": 1}).json()
    assert (page["total"], [r["id"] for r in page["items"]]) == (2, [ids[2]])
    page = api.get("/v1/runs", params={"week": "2026-W50", "limit": 1, "offset": 1}).json()
    assert [r["id"] for r in page["items"]] == [ids[1]]
    assert api.get("/v1/runs", params={"submitted_by": "nobody"}).json()["total"] == 0
    assert api.get("/v1/runs", params={"status": "queued"}).json()["total"] == 3


def test_openapi_describes_every_field(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert api.client.get("/docs").status_code == 200
    missing = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        if name.endswith(("Out", "In", "Summary", "Page", "Record", "Problem"))
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert all(path.startswith(("/v1/", "/healthz")) for path in spec["paths"])
    assert json.dumps(spec).count('#/components/schemas/Portfolio"') >= 2


def test_a_revoked_key_stops_working_within_the_key_cache_time(tmp_path: Path) -> None:
    api = Api(tmp_path, key_cache_seconds=0.3)
    with api.client:
        assert api.get("/v1/runs").status_code == 200
        api.store.revoke_key("viewer")
        assert api.get("/v1/runs").status_code == 200  # Trusted for key_cache_seconds ...
        time.sleep(0.4)
        answer = api.get("/v1/runs")  # ... then looked up again.
        assert answer.status_code == 401
        assert answer.json()["detail"] == "the API key is not known or was revoked"
